"""uclab on Mininet: the lab's topology as a Mininet ``Topo``, uclab's daemons on a ``Mininet``
object, and Mininet's CLI on a uclab lab (docs/mininet.md).

    from mininet.net import Mininet
    from lab.mn import UclabTopo, attach
    net = Mininet(topo=UclabTopo(), controller=None)
    net.start()
    with attach(net, lab="demo") as lab:
        print(lab.share().verdict)
    net.stop()
"""

from lab.mn.attach import MininetLab, attach
from lab.mn.topo import UclabTopo

__all__ = ["MininetLab", "UclabTopo", "attach"]
