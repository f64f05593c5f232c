// Envoy Gateway's side of `edsmod serve` through another gRPC stack:
// npm @grpc/grpc-js (scripts/fetch-grpc-js; on NODE_PATH), whose HTTP/2 is
// node's own, not gRPC core's as in python3-grpcio.  Like Envoy Gateway's
// Go client, it carries every call over the one connection of its channel.
//
//   node gjs.js TARGET METHOD REQ OUT [REQ OUT]...
//
// Sends every request at once (concurrent streams on one connection), waits
// for all, then prints one line per call in argument order: "OK <n> bytes"
// (the reply written to OUT) or "<CODE>: <details>".  Exits 0 when every
// call got an answer, OK or not; 2 on bad usage.
'use strict';
const fs = require('fs');
const grpc = require('@grpc/grpc-js');

const [target, method, ...pairs] = process.argv.slice(2);
if (!method || pairs.length === 0 || pairs.length % 2) {
  console.error('usage: node gjs.js TARGET METHOD REQ OUT [REQ OUT]...');
  process.exit(2);
}
const client = new grpc.Client(target, grpc.credentials.createInsecure(), {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
});
const bytes = (b) => b;
const n = pairs.length / 2;
const lines = new Array(n);
let left = n;
for (let i = 0; i < n; i++) {
  const req = fs.readFileSync(pairs[2 * i]);
  client.makeUnaryRequest(method, bytes, bytes, req, { deadline: Date.now() + 60000 }, (err, reply) => {
    if (err) {
      lines[i] = `${grpc.status[err.code]}: ${err.details}`;
    } else {
      fs.writeFileSync(pairs[2 * i + 1], reply);
      lines[i] = `OK ${reply.length} bytes`;
    }
    if (--left === 0) {
      console.log(lines.join('\n'));
      client.close();
    }
  });
}
