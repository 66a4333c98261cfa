// Canonical JSON for the tests' own checks, written independently of Guichet's: keys
// sorted, no whitespace, JSON.stringify's escapes (the same as the protocol's for the
// characters these tests use), safe integers only.
export const canonical = (v) => {
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
  }
  if (typeof v === "number" && !Number.isSafeInteger(v)) throw new Error("not a safe integer: " + v);
  return JSON.stringify(v);
};

// An ed25519 public key object from its 32 raw bytes in base64url.
import { createPublicKey } from "node:crypto";
export const publicKey = (base64url) =>
  createPublicKey({
    key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), Buffer.from(base64url, "base64url")]),
    format: "der",
    type: "spki",
  });
