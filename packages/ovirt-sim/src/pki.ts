import { generateKeyPairSync, randomBytes, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import os from "node:os";
import path from "node:path";
import forge from "node-forge";
import { writeFileAtomic } from "./store";

export interface Pki {
  caPem: string;
  caFile: string;
  certPem: string;
  keyPem: string;
}

function newKeys(): { publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return {
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

function serial(): string {
  // Positive 16-byte serial (top bit clear).
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f;
  return b.toString("hex");
}

function buildCert(opts: {
  subjectCn: string;
  publicPem: string;
  issuer: forge.pki.Certificate | null;
  signingKeyPem: string;
  ca: boolean;
  altNames?: Array<{ type: number; value?: string; ip?: string }>;
  years: number;
}): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(opts.publicPem);
  cert.serialNumber = serial();
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 24 * 3600 * 1000);
  cert.validity.notAfter = new Date(now.getTime() + opts.years * 365 * 24 * 3600 * 1000);
  const subject = [
    { name: "commonName", value: opts.subjectCn },
    { name: "organizationName", value: "Lifeboat simulated oVirt" },
  ];
  cert.setSubject(subject);
  cert.setIssuer(opts.issuer ? opts.issuer.subject.attributes : subject);
  const extensions: object[] = [
    { name: "basicConstraints", cA: opts.ca, critical: true },
    opts.ca
      ? { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true }
      : { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ];
  if (!opts.ca) extensions.push({ name: "extKeyUsage", serverAuth: true });
  if (opts.altNames) extensions.push({ name: "subjectAltName", altNames: opts.altNames });
  if (opts.issuer)
    extensions.push({
      name: "authorityKeyIdentifier",
      keyIdentifier: opts.issuer.generateSubjectKeyIdentifier().getBytes(),
    });
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(opts.signingKeyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** Host names and addresses the server certificate must cover. */
export function serverNames(host: string): string[] {
  const names = new Set(["127.0.0.1", "localhost", os.hostname()]);
  if (host && host !== "0.0.0.0" && host !== "::") names.add(host);
  return [...names];
}

function certCovers(certPem: string, names: string[]): boolean {
  try {
    const x = new X509Certificate(certPem);
    if (new Date(x.validTo).getTime() < Date.now() + 24 * 3600 * 1000) return false;
    return names.every((n) => (isIP(n) ? x.checkIP(n) !== undefined : x.checkHost(n) !== undefined));
  } catch {
    return false;
  }
}

/**
 * The engine's internal CA and the server certificate of the engine and imageio ports, kept under
 * `<data>/pki/`. Generated on first start; the server certificate is reissued (by the same CA) when it does
 * not cover the requested host names.
 */
export function ensurePki(dataDir: string, host: string): Pki {
  const dir = path.join(dataDir, "pki");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = path.join(dir, "ca.pem");
  const caKeyFile = path.join(dir, "ca.key");
  const certFile = path.join(dir, "server.pem");
  const keyFile = path.join(dir, "server.key");
  if (!existsSync(caFile) || !existsSync(caKeyFile)) {
    const keys = newKeys();
    const caPem = buildCert({
      subjectCn: `lifeboat-sim-ca-${randomBytes(3).toString("hex")}`,
      publicPem: keys.publicPem,
      issuer: null,
      signingKeyPem: keys.privatePem,
      ca: true,
      years: 10,
    });
    writeFileAtomic(caKeyFile, keys.privatePem, 0o600);
    writeFileAtomic(caFile, caPem);
  }
  const caPem = readFileSync(caFile, "utf8");
  const names = serverNames(host);
  if (!existsSync(certFile) || !existsSync(keyFile) || !certCovers(readFileSync(certFile, "utf8"), names)) {
    const keys = newKeys();
    const certPem = buildCert({
      subjectCn: names.find((n) => !isIP(n) && n !== "localhost") ?? "localhost",
      publicPem: keys.publicPem,
      issuer: forge.pki.certificateFromPem(caPem),
      signingKeyPem: readFileSync(caKeyFile, "utf8"),
      ca: false,
      altNames: names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n })),
      years: 2,
    });
    writeFileAtomic(keyFile, keys.privatePem, 0o600);
    writeFileAtomic(certFile, certPem);
  }
  return { caPem, caFile, certPem: readFileSync(certFile, "utf8"), keyPem: readFileSync(keyFile, "utf8") };
}
