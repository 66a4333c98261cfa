// Checks a key document (read on standard input) with Node's own JSON and ed25519: the
// canonical text is rebuilt here (keys sorted by code point, no whitespace), the
// signature verified with the document's own key, the key id recomputed. Prints what it
// found as JSON; exit status 1 if anything does not hold.
//
// Usage: curl -s URL/.well-known/guichet/keys | node tests/federation/verify_document.mjs
import { createHash, verify } from "node:crypto";

import { canonical, publicKey as keyOf } from "./canonical.mjs";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const document = JSON.parse(input);
const { signatures, ...signed } = document;
const [[keyId, entry]] = Object.entries(document.keys);
const raw = Buffer.from(entry.public_key, "base64url");
const publicKey = keyOf(entry.public_key);
const bytes = Buffer.concat([Buffer.from("guichet/v1/keys\u0000"), Buffer.from(canonical(signed), "utf8")]);
const signature = Buffer.from(signatures[document.base_url][keyId], "base64url");
const result = {
  served_canonical: canonical(document) === input,
  signature_ok: verify(null, bytes, publicKey, signature),
  key_id_ok: keyId === "ed25519:" + createHash("sha256").update(raw).digest().subarray(0, 9).toString("base64url"),
  public_key_hex: raw.toString("hex"),
  base_url: document.base_url,
};
console.log(JSON.stringify(result));
process.exit(result.served_canonical && result.signature_ok && result.key_id_ok ? 0 : 1);
