"""The diagnosis: what went wrong in a capture of the call, and where, in a UC engineer's words.

One engine, read by ``uclab run`` (after its ladder), ``uclab ladder`` (on any capture, with the
lab's topology when the capture is the lab's) and ``uclab firewall check`` (its run of the call):

* :mod:`lab.diagnosis.trail`: each packet followed across the taps (sender, each bridge port,
  receiver) and where it stopped: on a link, in a bridge, never sent on;
* :mod:`lab.diagnosis.connects`: a TCP connect never answered: where its SYN stopped, or, when
  the receiver answered, where its SYN+ACK stopped;
* :mod:`lab.diagnosis.rejections`: a SIP error response forwarded by proxies is one rejection,
  by the party that generated it, with the hops it crossed;
* :mod:`lab.diagnosis.delivery`: a ladder step is seen where its receiver's tap saw it;
* :mod:`lab.diagnosis.engine`: the run's diagnosis lines, built from all of the above.
"""
