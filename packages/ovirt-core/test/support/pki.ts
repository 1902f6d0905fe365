import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** A throw-away CA and a server certificate for 127.0.0.1 / localhost, made by openssl at test time. */
export interface TestPki {
  dir: string;
  caPem: string;
  caFile: string;
  certPem: string;
  keyPem: string;
  /** A second, unrelated CA: trusting it must NOT make the server acceptable. */
  otherCaPem: string;
  otherCaFile: string;
  cleanup(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "2",
    "-subj",
    `/CN=Lifeboat ${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

export function makePki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), "lifeboat-pki-"));
  makeCa(dir, "ca");
  makeCa(dir, "other-ca");
  openssl(dir, [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  ]);
  writeFileSync(
    path.join(dir, "ext.cnf"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
  );
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
  const read = (f: string) => readFileSync(path.join(dir, f), "utf8");
  return {
    dir,
    caPem: read("ca.pem"),
    caFile: path.join(dir, "ca.pem"),
    certPem: read("server.pem"),
    keyPem: read("server.key"),
    otherCaPem: read("other-ca.pem"),
    otherCaFile: path.join(dir, "other-ca.pem"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
