"""MCS's email policy: Python's default, but each kind of header class made once."""

from email import message_from_bytes, policy

from mail.policy import POLICY


def test_header_classes_are_made_once_however_many_names_a_mail_makes_up() -> None:
    names = [f"X-Made-Up-{i}" for i in range(500)]
    raw = "".join(f"{n}: v\r\n" for n in names) + "From: Li Lei <li@huadong.example>\r\n"
    raw += "To: a@mcs.example\r\nSubject: =?utf-8?b?6YeH6LSt5ZCI5ZCM?=\r\n\r\nbody\r\n"
    message = message_from_bytes(raw.encode(), policy=POLICY)
    assert len({type(message[n]) for n in names}) == 1  # one class for every unknown name
    assert type(message["From"]) is type(message["To"])  # one per kind of header
    assert type(policy.default.header_factory("From", "a@b.example")) is not type(
        policy.default.header_factory("From", "a@b.example")
    )  # what Python's own registry does: a new class each time
    same = message_from_bytes(raw.encode(), policy=policy.default)
    assert message.as_bytes() == same.as_bytes()  # read and written as the default policy does
    assert str(message["Subject"]) == "采购合同" and message["From"].addresses[0].username == "li"
