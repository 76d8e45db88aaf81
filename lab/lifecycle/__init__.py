"""The lab lifecycle: ``up`` (build and its steps, the network, the policies), ``down`` and
``clean`` (teardown), ``status``."""
