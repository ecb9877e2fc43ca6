// A platform hop in front of the NGINX sidecar, for the container contract test: an HTTP and
// WebSocket forwarding proxy that appends the address it was reached from to X-Forwarded-For, as
// Container Apps' ingress (Envoy) and the sign-in middleware do, and passes everything else on.
// HOP_EDGE=1 also sets X-Forwarded-Proto/-Host, as the ingress does for the client's request.
// Settings: HOP_LISTEN and HOP_TARGET (host:port), HOP_NAME. Prints "listening" once it is.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- plain CommonJS, run by node as it is
const http = require("node:http");

function hostPort(value) {
  const at = value.lastIndexOf(":");
  return { host: value.slice(0, at), port: Number(value.slice(at + 1)) };
}

const listen = hostPort(process.env.HOP_LISTEN);
const target = hostPort(process.env.HOP_TARGET);
const edge = process.env.HOP_EDGE === "1";
const name = process.env.HOP_NAME || "hop";

function forwardedHeaders(req) {
  const headers = { ...req.headers };
  const peer = String(req.socket.remoteAddress).replace(/^::ffff:/, "");
  headers["x-forwarded-for"] = headers["x-forwarded-for"] ? `${headers["x-forwarded-for"]}, ${peer}` : peer;
  if (edge) {
    headers["x-forwarded-proto"] = "https";
    headers["x-forwarded-host"] = req.headers.host;
  }
  return headers;
}

function statusBlock(answer) {
  let block = `HTTP/1.1 ${answer.statusCode} ${answer.statusMessage}\r\n`;
  for (let i = 0; i < answer.rawHeaders.length; i += 2)
    block += `${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}\r\n`;
  return `${block}\r\n`;
}

const server = http.createServer((req, res) => {
  const upstream = http.request(
    { ...target, method: req.method, path: req.url, headers: forwardedHeaders(req) },
    (answer) => {
      res.writeHead(answer.statusCode, answer.rawHeaders);
      answer.pipe(res);
    },
  );
  upstream.on("error", (error) => {
    if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
    res.end(`${name}: ${error.message}`);
  });
  req.pipe(upstream);
});

server.on("upgrade", (req, socket, head) => {
  const upstream = http.request({ ...target, method: req.method, path: req.url, headers: forwardedHeaders(req) });
  upstream.on("upgrade", (answer, upstreamSocket, upstreamHead) => {
    socket.write(statusBlock(answer));
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    upstreamSocket.pipe(socket);
    socket.pipe(upstreamSocket);
    const close = () => {
      socket.destroy();
      upstreamSocket.destroy();
    };
    for (const end of [socket, upstreamSocket]) {
      end.on("error", close);
      end.on("close", close);
    }
  });
  // The upgrade was refused: pass the answer on as it is.
  upstream.on("response", (answer) => {
    socket.write(statusBlock(answer));
    answer.pipe(socket);
  });
  upstream.on("error", () => socket.destroy());
  upstream.end();
});

server.listen(listen.port, listen.host, () => console.log(`${name} listening on ${process.env.HOP_LISTEN}`));
process.on("SIGTERM", () => process.exit(0));
