#!/bin/bash
# Makes the real-world ladder captures of this folder with real peers in throwaway namespaces
# (h12rw-c client, h12rw-p proxy/TURN server, h12rw-s user agent server / TURN peer), removed
# at the end even on failure. Run as root from this folder: ./make.sh [OUT_DIR]
#
#   c eth0 10.212.0.1/24, fd12::1/64  ---  p eth0 10.212.0.2/24, fd12::2/64
#   p eth1 10.212.3.2/24              ---  s eth0 10.212.3.1/24       (p forwards)
#
# Peers: coturn's turnserver (on p) and turnutils_uclient (on c) with turnutils_peer (on s);
# kamailio (on p, kamailio.cfg.in) between sipp's UAC (on c) and sipp's UAS with -rtp_echo
# (on s). Captures by tcpdump on p; cuts and re-encapsulations by editcap and text2pcap.
set -euo pipefail
OUT=$(realpath "${1:-.}")
HERE=$(dirname "$(realpath "$0")")
WORK=$(mktemp -d /tmp/h12rw.XXXXXX)
C=h12rw-c P=h12rw-p S=h12rw-s
cleanup() {
    for pid in $(cat "$WORK"/*.pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    sleep 0.3
    for ns in $C $P $S; do ip netns del $ns 2>/dev/null || true; done
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
for ns in $C $P $S; do ip netns add $ns; ip -n $ns link set lo up; done
ip link add h12rw-cp netns $C type veth peer name eth0 netns $P
ip -n $C link set h12rw-cp name eth0
ip link add h12rw-ps netns $P type veth peer name eth0 netns $S
ip -n $P link set h12rw-ps name eth1
ip -n $C addr add 10.212.0.1/24 dev eth0; ip -n $C addr add fd12::1/64 dev eth0 nodad
ip -n $P addr add 10.212.0.2/24 dev eth0; ip -n $P addr add fd12::2/64 dev eth0 nodad
ip -n $P addr add 10.212.3.2/24 dev eth1; ip -n $S addr add 10.212.3.1/24 dev eth0
for l in "$C eth0" "$P eth0" "$P eth1" "$S eth0"; do ip -n ${l% *} link set ${l#* } up; done
ip -n $C route add 10.212.3.0/24 via 10.212.0.2
ip -n $S route add 10.212.0.0/24 via 10.212.3.2
ip netns exec $P sysctl -qw net.ipv4.ip_forward=1
# clients whose ephemeral ports are below a server's port (40000): see sip-tcp-40000-nosyn
ip netns exec $C sysctl -qw net.ipv4.ip_local_port_range="20000 20999"
ip netns exec $P sysctl -qw net.ipv4.ip_local_port_range="21000 21999"
sleep 1  # IPv6 addresses usable

bg() {  # bg NAME NS CMD...: a background process in a namespace, its pid recorded first
    local name=$1 ns=$2; shift 2
    ip netns exec "$ns" timeout -s KILL 120 "$@" >"$WORK/$name.log" 2>&1 &
    echo $! >"$WORK/$name.pid"
}
stop() { kill -INT "$(cat "$WORK/$1.pid")" 2>/dev/null || true; wait "$(cat "$WORK/$1.pid")" 2>/dev/null || true; rm -f "$WORK/$1.pid"; }
capture() {  # capture NAME IFACE [FILTER]: tcpdump on p, full packets
    bg "tcpdump-$1" $P tcpdump -i "$2" -s 0 -U -w "$WORK/$1.pcap" ${3:-}
    sleep 1
}

# --- coturn: TURN over TCP asking for a UDP relay (a browser's allocation), and over UDP ---
bg turnserver $P turnserver -n --no-cli --lt-cred-mech --realm h12.test --user h12:secret \
    --listening-ip 10.212.0.2 --relay-ip 10.212.3.2 --min-port 49200 --max-port 49299 \
    --no-tls --no-dtls --fingerprint --log-file stdout --simple-log --allow-loopback-peers
bg peer $S turnutils_peer -L 10.212.3.1 -p 3480
sleep 1
capture turn-tcp-udp-relay any "host 10.212.0.1 or host 10.212.3.1"
ip netns exec $C timeout 30 turnutils_uclient -t -G -u h12 -w secret -n 5 -m 1 -z 20 \
    -e 10.212.3.1 -r 3480 -L 10.212.0.1 10.212.0.2 >"$WORK/uclient-tcp.log" 2>&1
ip netns exec $C timeout 30 turnutils_uclient -t -G -s -u h12 -w secret -n 5 -m 1 -z 20 \
    -e 10.212.3.1 -r 3480 -L 10.212.0.1 10.212.0.2 >>"$WORK/uclient-tcp.log" 2>&1
sleep 1; stop tcpdump-turn-tcp-udp-relay
capture turn-udp any "host 10.212.0.1 or host 10.212.3.1"
ip netns exec $C timeout 30 turnutils_uclient -u h12 -w secret -n 5 -m 1 -z 20 \
    -e 10.212.3.1 -r 3480 -L 10.212.0.1 10.212.0.2 >"$WORK/uclient-udp.log" 2>&1
sleep 1; stop tcpdump-turn-udp
stop turnserver; stop peer

# --- kamailio between sipp UAC and UAS, UDP and TCP, with RTP ----------------------------
MODULES=/usr/lib/x86_64-linux-gnu/kamailio/modules/
sed -e "s/@LISTEN@/10.212.0.2/" -e "s/@LISTEN6@/fd12::2/" -e "s/@NEXT@/10.212.3.1:5060/g" \
    -e "s#@MODULES@#$MODULES#" "$HERE/kamailio.cfg.in" >"$WORK/kamailio.cfg"
ip netns exec $P kamailio -c -f "$WORK/kamailio.cfg" >/dev/null 2>&1
bg kamailio $P kamailio -f "$WORK/kamailio.cfg" -DD -E -m 64 -M 8 -Y "$WORK"
mkdir -p "$WORK/pcap"; cp /usr/share/sip-tester/*.pcap "$WORK/pcap/"
sleep 1
sipp_call() {  # sipp_call TRANSPORT(u1|t1): REGISTER (401), INVITE nobody (404), a call with RTP
    bg uas $S sipp -sn uas -i 10.212.3.1 -p 5060 -t "$1" -m 1 -rtp_echo -mi 10.212.3.1 -mp 31000
    sleep 1
    (cd "$WORK" && ip netns exec $C sipp -sf "$HERE/register.xml" -i 10.212.0.1 -t "$1" -m 1 -timeout 10 \
        -s alice 10.212.0.2:5060 >/dev/null 2>&1) || true
    (cd "$WORK" && ip netns exec $C sipp -sn uac -i 10.212.0.1 -t "$1" -m 1 -timeout 10 \
        -s nobody 10.212.0.2:5060 >/dev/null 2>&1) || true
    (cd "$WORK" && ip netns exec $C sipp -sn uac_pcap -i 10.212.0.1 -t "$1" -m 1 -timeout 30 \
        -mi 10.212.0.1 -mp 30000 -s bob 10.212.0.2:5060 >"$WORK/uac-$1.log" 2>&1)
    sleep 1
    stop uas
}
capture sip-udp-rtp any "host 10.212.0.1 or host 10.212.3.1"
sipp_call u1
sleep 1; stop tcpdump-sip-udp-rtp
capture sip-tcp-rtp any "host 10.212.0.1 or host 10.212.3.1"
sipp_call t1
sleep 1; stop tcpdump-sip-tcp-rtp

# --- SIP over TCP to a server port above the client's ephemeral ports, the SYNs cut off ----
bg uas40 $S sipp -sn uas -i 10.212.3.1 -p 40000 -t t1 -m 1
sleep 1
capture sip-tcp-40000 eth1 "tcp port 40000"
ip netns exec $P timeout 20 sipp -sn uac -i 10.212.3.2 -t t1 -m 1 -timeout 10 -s bob 10.212.3.1:40000 \
    >/dev/null 2>&1 || true
sleep 1; stop tcpdump-sip-tcp-40000; stop uas40

# --- fragments: IPv4 over an MTU of 576, IPv6 (1280) -------------------------------------
ip -n $C link set eth0 mtu 576; ip -n $P link set eth0 mtu 576
capture sip-fragments eth0 "host 10.212.0.1 or host fd12::1"
(cd "$WORK" && ip netns exec $C sipp -sf "$HERE/bigoptions.xml" -i 10.212.0.1 -t u1 -m 1 -timeout 10 \
    10.212.0.2:5060 >/dev/null 2>&1) || true
ip -n $C link set eth0 mtu 1500; ip -n $P link set eth0 mtu 1500
# an MTU below 1280 took IPv6 off the link: its addresses come back with the MTU
ip -n $C addr replace fd12::1/64 dev eth0 nodad; ip -n $P addr replace fd12::2/64 dev eth0 nodad
sleep 1
(cd "$WORK" && ip netns exec $C sipp -sf "$HERE/bigoptions.xml" -i fd12::1 -t u1 -m 1 -timeout 10 \
    [fd12::2]:5060 >"$WORK/sipp6.log" 2>&1) || true
sleep 1; stop tcpdump-sip-fragments

# --- encapsulations: this kernel has no GRE or IPIP module, so the REGISTER exchange above is
# re-wrapped (GRE, IP-in-IP, ERSPAN II over GRE, PPP) by encap.py and written by text2pcap
tshark -r "$WORK/sip-udp-rtp.pcap" -Y "sip.Method == REGISTER or sip.CSeq.method == REGISTER" \
    -w "$WORK/register.pcap"
for kind in gre ipip erspan; do
    python3 "$HERE/encap.py" $kind "$WORK/register.pcap" | text2pcap -q -t %s.%f -l 1 - "$WORK/sip-$kind.pcap"
done
python3 "$HERE/encap.py" ppp "$WORK/register.pcap" | text2pcap -q -t %s.%f -l 9 - "$WORK/sip-ppp.pcap"
rm "$WORK/register.pcap"
stop kamailio

# --- cut, damaged, fuzzed, generated: no namespaces needed ---------------------------------
editcap -s 200 "$WORK/sip-udp-rtp.pcap" "$WORK/sip-udp-snap200.pcap"      # snap length 200
editcap "$WORK/sip-tcp-40000.pcap" "$WORK/sip-tcp-40000-nosyn.pcap" 1-3   # SYN, SYN-ACK, ACK cut
editcap -F pcapng "$WORK/turn-udp.pcap" "$WORK/whole.pcapng"
head -c 20 "$WORK/whole.pcapng" >"$WORK/cut-section-header.pcapng"       # 20 of 28+ bytes
rm "$WORK/whole.pcapng"
# a fuzzer's change: one byte of the 404's reason phrase replaced by NUL
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d.replace(b"404 Not Found", b"404 Not\0Found", 1))' \
    "$WORK/sip-udp-rtp.pcap" "$WORK/sip-nul-reason.pcap"
python3 "$HERE/msturn_gen.py" request | text2pcap -q -t %s.%f -4 10.212.0.1,10.212.0.2 -u 50000,3478 - "$WORK/ms-a.pcap"
python3 "$HERE/msturn_gen.py" response | text2pcap -q -t %s.%f -4 10.212.0.2,10.212.0.1 -u 3478,50000 - "$WORK/ms-b.pcap"
mergecap -F pcap -w "$WORK/msturn-udp.pcap" "$WORK/ms-a.pcap" "$WORK/ms-b.pcap"
rm "$WORK/ms-a.pcap" "$WORK/ms-b.pcap"

cp "$WORK"/*.pcap "$WORK"/*.pcapng "$OUT"/
echo "captures written to $OUT"; ls -la "$OUT"/*.pcap
