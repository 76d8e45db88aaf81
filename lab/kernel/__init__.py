"""The kernel layer: the only code that runs ip, nft, tcpdump, pyroute2 or setns(2).

setns (threads in namespaces), namespaces (named netns, sysctls), processes (spawn, identify,
stop), links (pyroute2), nftables (nft and iptables-nft in namespaces), capture (tcpdump).
Commands are argv lists, exit codes checked; nothing here acts on an object the lab did not
create.
"""
