"""Dialogs (RFC 3261 §12): identifiers, route set, CSeq, remote target; in-dialog requests.

The UAC builds its route set from the 2xx's Record-Route in reverse order, the UAS from the
INVITE's in order (§12.1.1, §12.1.2). Requests inside the dialog carry the route set as Route
headers, with the remote target as Request-URI (loose routing, §12.2.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.proto.sip.address import NameAddr
from lab.proto.sip.message import Header, Request, Response
from lab.proto.sip.uri import Uri


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local: NameAddr
    remote: NameAddr
    remote_target: Uri
    route_set: list[Uri] = field(default_factory=list)
    local_seq: int = 0
    remote_seq: int | None = None

    @property
    def id(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def as_uac(cls, invite: Request, response: Response) -> Dialog:
        """§12.1.2: from our INVITE and the 2xx (or 1xx with a To tag) it got."""
        target = response.contact[0].uri if response.contact else invite.uri
        return cls(invite.call_id, invite.from_.tag or "", response.to.tag or "",
                   invite.from_, response.to, target,
                   [r.uri for r in reversed(response.record_route)], invite.cseq.seq)

    @classmethod
    def as_uas(cls, invite: Request, local_tag: str) -> Dialog:
        """§12.1.1: from the INVITE we answer with ``local_tag``."""
        target = invite.contact[0].uri if invite.contact else invite.uri
        return cls(invite.call_id, local_tag, invite.from_.tag or "",
                   invite.to.with_tag(local_tag), invite.from_, target,
                   [r.uri for r in invite.record_route], 0, invite.cseq.seq)

    def next_hop(self) -> Uri:
        """Where an in-dialog request goes first: the first route, else the remote target."""
        return self.route_set[0] if self.route_set else self.remote_target

    def request(self, method: str, via: str, *, contact: NameAddr | None = None,
                body: bytes = b"", content_type: str | None = None,
                seq: int | None = None) -> Request:
        """§12.2.1.1: a request inside the dialog (ACK reuses the INVITE's ``seq``)."""
        if seq is None:
            self.local_seq += 1
            seq = self.local_seq
        headers = [Header("Via", via), Header("Max-Forwards", "70")]
        headers += [Header("Route", f"<{r}>") for r in self.route_set]
        headers += [Header("From", str(self.local.with_tag(self.local_tag))),
                    Header("To", str(self.remote.with_tag(self.remote_tag))),
                    Header("Call-ID", self.call_id), Header("CSeq", f"{seq} {method}")]
        if contact is not None:
            headers.append(Header("Contact", str(contact)))
        req = Request(tuple(headers), b"", method, self.remote_target)
        return req.with_body(body, content_type) if body else req

    def accept_remote(self, request: Request) -> bool:
        """§12.2.2: a request in order? Updates the remote CSeq and the target (re-INVITE)."""
        seq = request.cseq.seq
        if request.method != "ACK":
            if self.remote_seq is not None and seq <= self.remote_seq:
                return False
            self.remote_seq = seq
        if request.method == "INVITE" and request.contact:
            self.remote_target = request.contact[0].uri
        return True
