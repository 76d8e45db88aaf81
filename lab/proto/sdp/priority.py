"""ICE candidate priorities: the RFC 5245 formula and Microsoft's local-preference layout.

RFC 5245 §4.1.2.1::

    priority = 2^24 * type_preference + 2^8 * local_preference + (256 - component_id)

MS-ICE2 (TCP candidates) fills the 16-bit local preference as
``0x1000 * transport + 0x200 * direction + other``, with transport TCP = 6, direction
PASSIVE = 2 and ACTIVE = 5 (flow.md §4). The "other" field counts down from 511 by two per
candidate (foundation) and by two more for component 2; that is why every component-2 value in
the seed's offer is its component-1 value minus 513 (2 * 256 + 1).
"""

from __future__ import annotations

from typing import Final

# RFC 5245 §4.1.2.2 recommended type preferences, as the Skype client uses them (flow.md §4).
TYPE_PREFERENCE: Final[dict[str, int]] = {"host": 126, "prflx": 110, "srflx": 100, "relay": 10}
# CMS's relay type preference (flow.md §4.2, [GUESS] from 352321535 = 20 << 24 | 0xFFFF << 8 | 255).
CMS_RELAY_TYPE_PREFERENCE: Final = 20

MS_TRANSPORT_TCP: Final = 6
MS_DIRECTION: Final[dict[str, int]] = {"passive": 2, "active": 5}
MS_OTHER_START: Final = 511
MAX_LOCAL_PREFERENCE: Final = 0xFFFF


def rfc5245_priority(type_preference: int, local_preference: int, component: int) -> int:
    """RFC 5245 §4.1.2.1 priority of a candidate."""
    if not 0 <= type_preference <= 126:
        raise ValueError(f"type preference {type_preference} outside 0..126")
    if not 0 <= local_preference <= MAX_LOCAL_PREFERENCE:
        raise ValueError(f"local preference {local_preference} outside 0..65535")
    if not 1 <= component <= 256:
        raise ValueError(f"component {component} outside 1..256")
    return (type_preference << 24) + (local_preference << 8) + (256 - component)


def ms_other(index: int, component: int) -> int:
    """The "other" field of the n-th candidate (0-based, in foundation order) and its component."""
    value = MS_OTHER_START - 2 * index - 2 * (component - 1)
    if not 0 <= value < 0x200:
        raise ValueError(f"no room for candidate #{index} component {component} in 9 bits")
    return value


def ms_local_preference(direction: str, other: int) -> int:
    """MS-ICE2 local preference of a TCP candidate: ``0x1000*6 + 0x200*direction + other``."""
    try:
        code = MS_DIRECTION[direction]
    except KeyError:
        raise ValueError(f"unknown TCP direction {direction!r} (passive or active)") from None
    return 0x1000 * MS_TRANSPORT_TCP + 0x200 * code + other


def ms_priority(typ: str, direction: str, index: int, component: int) -> int:
    """Priority of a Skype (MS-ICE2) TCP candidate, per flow.md §4.1."""
    local = ms_local_preference(direction, ms_other(index, component))
    return rfc5245_priority(TYPE_PREFERENCE[typ], local, component)
