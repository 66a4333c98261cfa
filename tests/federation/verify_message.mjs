// Checks a signed federation message (read on standard input) with Node's own JSON and
// ed25519: served in canonical form, and signed by its origin with the key given (for
// pairing, `pair.*`, in the pairing context; otherwise in the message context).
// Exit status 1 if not.
//
// Usage: node tests/federation/verify_message.mjs PUBLIC_KEY_BASE64URL < message.json
import { verify } from "node:crypto";

import { canonical, publicKey } from "./canonical.mjs";

let input = "";
for await (const chunk of process.stdin) input += chunk;
input = input.trimEnd();
const message = JSON.parse(input);
const { signatures, ...signed } = message;
const context = message.type.startsWith("pair.") ? "guichet/v1/pair\u0000" : "guichet/v1/msg\u0000";
const bytes = Buffer.concat([Buffer.from(context), Buffer.from(canonical(signed), "utf8")]);
const signature = Buffer.from(signatures[message.origin][message.key], "base64url");
const result = { canonical: canonical(message) === input, signature_ok: verify(null, bytes, publicKey(process.argv[2]), signature) };
console.log(JSON.stringify(result));
process.exit(result.canonical && result.signature_ok ? 0 : 1);
