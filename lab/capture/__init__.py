"""Packet capture of a lab and the one merged pcapng (``node:iface`` names, TLS secrets embedded).

    from lab.capture import LabCapture
    cap = LabCapture.for_lab("uclab", nodes, run_dir)
    cap.start(); ...; cap.stop()
    cap.merge(out, keylog=run_dir / "pki" / "keylog.txt")

``read_capture`` reads any pcap/pcapng (the ladder uses it); ``PcapngWriter`` writes pcapng.
"""

from lab.capture.merge import MergeResult, Part, merge_parts
from lab.capture.pcapfile import (
    LINKTYPE_ETHERNET,
    Capture,
    Interface,
    Packet,
    PcapngWriter,
    parse_capture,
    read_capture,
)
from lab.capture.taps import LabCapture, PartStats

__all__ = [
    "LINKTYPE_ETHERNET",
    "Capture",
    "Interface",
    "LabCapture",
    "MergeResult",
    "Packet",
    "Part",
    "PartStats",
    "PcapngWriter",
    "merge_parts",
    "parse_capture",
    "read_capture",
]
