/**
 * Compact JWS (RFC 7515) signing for the push providers: ES256 for APNs provider tokens,
 * RS256 for Google's service-account assertion. node:crypto does the signing; ES256
 * signatures are the raw r||s form JWS wants (IEEE P1363), not DER.
 *
 * Rules: keys are parsed once, at configuration (parsePrivateKey throws a sentence naming
 * what is wrong); signing never touches the network or the clock (iat comes in).
 */
import { createPrivateKey, sign, type KeyObject } from "node:crypto";

export type JwtAlgorithm = "ES256" | "RS256";

/** A PEM private key of the kind `algorithm` needs (P-256 for ES256, RSA for RS256). */
export function parsePrivateKey(pem: string, algorithm: JwtAlgorithm, owner: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (cause) {
    throw new Error(`${owner}: the private key is not a PEM private key: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  if (algorithm === "ES256" && (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")) {
    throw new Error(`${owner}: ES256 needs a P-256 (prime256v1) EC key, got ${key.asymmetricKeyType ?? "?"} ${key.asymmetricKeyDetails?.namedCurve ?? ""}`.trim());
  }
  if (algorithm === "RS256" && key.asymmetricKeyType !== "rsa") throw new Error(`${owner}: RS256 needs an RSA key, got ${key.asymmetricKeyType ?? "?"}`);
  return key;
}

export function signJwt(algorithm: JwtAlgorithm, header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
  const signing_input = `${encode({ ...header, alg: algorithm })}.${encode(claims)}`;
  const signature =
    algorithm === "ES256"
      ? sign("sha256", Buffer.from(signing_input), { key, dsaEncoding: "ieee-p1363" })
      : sign("sha256", Buffer.from(signing_input), key);
  return `${signing_input}.${signature.toString("base64url")}`;
}
