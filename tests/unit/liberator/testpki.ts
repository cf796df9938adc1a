// Certificates for the tests' local HTTPS servers, made with openssl (skip those tests without it).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const haveOpenssl = (() => {
    try {
        execFileSync("openssl", ["version"], { stdio: "ignore" });
        return true;
    } catch {
        return false;
    }
})();

/**
 * In `dir`: a CA (ca.key, ca.crt), a server certificate it signed for 127.0.0.1 (server.key,
 * server.crt) and, with `clientSubject`, a client certificate (client.key, client.crt).
 */
export function makeTestPki(dir: string, clientSubject?: string): void {
    const ossl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    const sign = (name: string, ...extra: string[]) =>
        ossl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "1", ...extra);
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=test-ca");
    fs.writeFileSync(path.join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\n");
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=server");
    sign("server", "-extfile", "san.ext");
    if (clientSubject) {
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", clientSubject);
        sign("client");
    }
}
