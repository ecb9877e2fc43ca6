/**
 * A certificate authority made on the sandbox's first start (kept in its state directory, never
 * in the repository) and a leaf certificate for every host name the sandbox answers. Clients
 * trust the CA explicitly (src/azure/transport.ts); TLS verification stays on.
 */
import { X509Certificate } from "node:crypto";
import forge from "node-forge";

export interface SandboxTls {
  caCertificatePem: string;
  caPrivateKeyPem: string;
  certificatePem: string;
  privateKeyPem: string;
  /** The host names the leaf certificate names. */
  hostNames: string[];
}

/** How long the certificates are valid; a kept pair is replaced a week before it ends. */
const VALIDITY_MS = 365 * 24 * 60 * 60 * 1000;
const RENEW_BEFORE_MS = 7 * 24 * 60 * 60 * 1000;

/** Wildcards cover one label only: every per-resource host family needs its own (the static website endpoint included). */
export const HOST_NAMES = [
  "localhost",
  "sandbox.localhost",
  "*.sandbox.localhost",
  "*.vault.sandbox.localhost",
  "*.blob.sandbox.localhost",
  "*.web.sandbox.localhost",
  "*.azurecr.sandbox.localhost",
];

function serial(): string {
  return forge.util.bytesToHex(forge.random.getBytesSync(16)).replace(/^[89a-f]/, "1");
}

export function createSandboxTls(): SandboxTls {
  const now = new Date();
  const notAfter = new Date(now.getTime() + VALIDITY_MS);

  const caKeys = forge.pki.rsa.generateKeyPair(2048);
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  ca.validity.notBefore = new Date(now.getTime() - 60_000);
  ca.validity.notAfter = notAfter;
  const caSubject = [
    { name: "commonName", value: "Shire sandbox CA" },
    { name: "organizationName", value: "Shire sandbox" },
  ];
  ca.setSubject(caSubject);
  ca.setIssuer(caSubject);
  ca.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const leafKeys = forge.pki.rsa.generateKeyPair(2048);
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = leafKeys.publicKey;
  leaf.serialNumber = serial();
  leaf.validity.notBefore = new Date(now.getTime() - 60_000);
  leaf.validity.notAfter = notAfter;
  leaf.setSubject([{ name: "commonName", value: "sandbox.localhost" }]);
  leaf.setIssuer(caSubject);
  leaf.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [...HOST_NAMES.map((value) => ({ type: 2, value })), { type: 7, ip: "127.0.0.1" }],
    },
  ]);
  leaf.sign(caKeys.privateKey, forge.md.sha256.create());

  return {
    caCertificatePem: forge.pki.certificateToPem(ca),
    caPrivateKeyPem: forge.pki.privateKeyToPem(caKeys.privateKey),
    certificatePem: forge.pki.certificateToPem(leaf),
    privateKeyPem: forge.pki.privateKeyToPem(leafKeys.privateKey),
    hostNames: [...HOST_NAMES],
  };
}

/** A kept CA and certificate can serve on: readable, for today's host names, not about to expire. */
export function tlsStillGood(tls: Partial<SandboxTls> | undefined, now = Date.now()): tls is SandboxTls {
  if (!tls?.caCertificatePem || !tls.caPrivateKeyPem || !tls.certificatePem || !tls.privateKeyPem) return false;
  if (JSON.stringify(tls.hostNames) !== JSON.stringify(HOST_NAMES)) return false;
  try {
    return [tls.caCertificatePem, tls.certificatePem].every(
      (pem) => Date.parse(new X509Certificate(pem).validTo) - now > RENEW_BEFORE_MS,
    );
  } catch {
    return false;
  }
}
