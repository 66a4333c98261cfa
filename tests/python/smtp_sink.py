"""A real SMTP server (aiosmtpd) for the tests: every message it accepts is written, as
received, to DIR/NNNNNN.eml (one file per delivery, so duplicates show). Recipients whose
address starts with "inconnu@" are refused for good (550 5.1.1), as a real server refuses an
unknown mailbox. Prints "listening PORT" once ready, and nothing after that (nobody reads
it). Started again on the same DIR, it goes on numbering after the files already there.

Usage: python3 smtp_sink.py DIR PORT
"""

import asyncio
import itertools
import os
import sys

from aiosmtpd.controller import Controller

DIRECTORY = sys.argv[1]
COUNTER = itertools.count(
    len([f for f in os.listdir(DIRECTORY) if f.endswith(".eml")]) + 1 if os.path.isdir(DIRECTORY) else 1
)


class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("inconnu@"):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        number = next(COUNTER)
        path = os.path.join(DIRECTORY, f"{number:06}.eml")
        with open(path + ".part", "wb") as f:
            f.write(f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".part", path)
        return "250 Message accepted for delivery"


def main():
    os.makedirs(DIRECTORY, exist_ok=True)
    port = int(sys.argv[2])
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"listening {port}", flush=True)
    try:
        asyncio.new_event_loop().run_until_complete(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


main()
