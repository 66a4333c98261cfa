// Writes tests/fixtures/federation/signatures.json: signatures made by Node's own ed25519
// (node:crypto, an implementation independent of Guichet's), over the context prefix and
// the canonical text given in each vector, with the key of RFC 8032's first test vector.
// Guichet's tests then check that it signs and verifies exactly the same bytes.
//
// Usage: node tests/federation/sign_vectors.mjs [--check]
// With --check, compares with the file instead (exit status 1 when they differ).
import { createHash, createPrivateKey, createPublicKey, sign } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const seed = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
const der = Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]);
const privateKey = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
const publicKey = createPublicKey(privateKey).export({ format: "der", type: "spki" }).subarray(-32);
const digest = createHash("sha256").update(publicKey).digest();

const vectors = [
  {
    name: "a message",
    context: "guichet/v1/msg\u0000",
    canonical:
      '{"content":{"category":"dechets","subject":"Bac non collecté"},"created_at":1795435200000,' +
      '"id":"0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","key":"ed25519:' + digest.subarray(0, 9).toString("base64url") +
      '","object":{"id":"req-42","kind":"request","version":1},"origin":"https://mairie.example",' +
      '"to":["https://epci.example"],"type":"request.forward","v":1}',
  },
  {
    name: "the same object for another purpose signs differently",
    context: "guichet/v1/keys\u0000",
    canonical: '{"base_url":"https://mairie.example","v":1}',
  },
  {
    name: "text with escapes and characters beyond the BMP",
    context: "guichet/v1/pair\u0000",
    canonical: '{"note":"ligne 1\\nligne 2 \\"citée\\" \\\\ 😀","v":1}',
  },
];

const out = {
  about:
    "Signature test vectors of the Guichet federation protocol (docs/federation.md), made by " +
    "tests/federation/sign_vectors.mjs with Node's ed25519. Signed bytes = context + canonical.",
  seed: seed.toString("hex"),
  public_key: publicKey.toString("base64url"),
  key_id: "ed25519:" + digest.subarray(0, 9).toString("base64url"),
  fingerprint: digest.toString("hex").match(/.{4}/g).join(" "),
  vectors: vectors.map((v) => ({
    ...v,
    signature: sign(null, Buffer.concat([Buffer.from(v.context, "utf8"), Buffer.from(v.canonical, "utf8")]), privateKey)
      .toString("base64url"),
  })),
};
const path = new URL("../fixtures/federation/signatures.json", import.meta.url);
const text = JSON.stringify(out, null, 1) + "\n";
if (process.argv.includes("--check")) {
  const same = readFileSync(path, "utf8") === text;
  console.log(same ? "signature vectors: same as node:crypto" : "signature vectors differ from node:crypto");
  process.exit(same ? 0 : 1);
}
writeFileSync(path, text);
