"""uclab's lab in a Mininet script: build it, add a host on the "Internet", place the share."""
import sys

from mininet.net import Mininet

from lab.mn import UclabTopo, attach

topo = UclabTopo()                                          # topologies/sfb-cms-expressway.yaml
topo.add_host_on("student", "internet", "192.168.1.50/24")  # a host of one's own, outside
net = Mininet(topo=topo, controller=None)                   # firewalls bridge: no OpenFlow
net.start()
with attach(net, lab=sys.argv[1] if len(sys.argv) > 1 else "uclab") as lab:
    print(net["student"].cmd("ping -c1 -W1 192.168.1.229"))  # fw-outside drops it
    print(lab.share().ladder.verdict.summary)                # judged from the capture
net.stop()
