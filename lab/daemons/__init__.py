"""The node daemons' contract: their configuration, the control protocol, the launcher and the
supervisor that starts them, waits for them and reports their health. The daemons themselves
are ``nodes/<role>.py``; which module serves a role and the events it reports are in the role
registry (:data:`lab.topology.roles.ROLES`)."""
