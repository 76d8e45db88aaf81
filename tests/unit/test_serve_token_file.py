"""``uclab serve --seats 1 --token-file FILE``: a seat's token made by the operator (a
Kubernetes Secret mounted as a file) instead of at start; bad files are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.base.errors import InputError
from lab.web.seats import Seats
from lab.web.server import ServeConfig

TOKEN = "seat0-token-from-the-secret-0123"


def test_the_seat_takes_the_token_of_the_file(tmp_path: Path) -> None:
    f = tmp_path / "uclab-seat-0"
    f.write_text(TOKEN + "\n")
    config = ServeConfig.from_args("0.0.0.0:8080", 1, "seat", token_file=f)
    assert config.seat_tokens == (TOKEN,)
    seats = Seats(config.labs, tmp_path, config.seat_tokens)
    assert seats.get(1, TOKEN) is not None
    assert seats.get(1, "another-token-of-sixteen") is None
    assert not seats.is_trainer(TOKEN)
    made = Seats(["a1", "a2"], tmp_path)
    assert made.seats[1].token != made.seats[2].token  # without a file: made at start


@pytest.mark.parametrize(("text", "seats", "says"), [
    (TOKEN, 3, "--token-file gives one seat its token"),
    ("short", 1, "not a token: 16 to 128 of A-Z a-z 0-9 _ -"),
    ("has space in it, sixteen+", 1, "not a token"),
    (None, 1, "cannot read the token"),
])
def test_bad_token_files(tmp_path: Path, text: str | None, seats: int, says: str) -> None:
    f = tmp_path / "token"
    if text is not None:
        f.write_text(text)
    with pytest.raises(InputError, match="fix:") as err:
        ServeConfig.from_args("0.0.0.0:8080", seats, "seat", token_file=f)
    assert says in str(err.value)
