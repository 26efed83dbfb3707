// Counts the operators of an ONNX file (e.g. the optimized graphs that
// ORT_OPTIMIZED_DIR=dir node ort_bench.js writes), to see what ONNX Runtime
// fused:  node bench/frameworks/ort_ops.js FILE.onnx...
// A minimal protobuf walk: ModelProto.graph (7) -> GraphProto.node (1) ->
// NodeProto.op_type (4) / domain (7).
'use strict';
const fs = require('fs');

function* fields(buf, start, end) {
  let i = start;
  const varint = () => {
    let v = 0, mul = 1, b;
    do { b = buf[i++]; v += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    return v;
  };
  while (i < end) {
    const key = varint(), field = Math.floor(key / 8), type = key & 7;
    if (type === 0) { yield [field, type, varint()]; }
    else if (type === 1) { i += 8; }
    else if (type === 5) { i += 4; }
    else if (type === 2) { const n = varint(); yield [field, type, i, i + n]; i += n; }
    else throw new Error(`unsupported wire type ${type}`);
  }
}

for (const file of process.argv.slice(2)) {
  const buf = fs.readFileSync(file);
  const counts = new Map();
  for (const [f, t, s, e] of fields(buf, 0, buf.length)) {
    if (f !== 7 || t !== 2) continue;
    for (const [g, u, ns, ne] of fields(buf, s, e)) {
      if (g !== 1 || u !== 2) continue;
      let op = '', domain = '';
      for (const [h, w, a, b] of fields(buf, ns, ne)) {
        if (h === 4 && w === 2) op = buf.toString('utf8', a, b);
        if (h === 7 && w === 2) domain = buf.toString('utf8', a, b);
      }
      const k = domain ? `${domain}.${op}` : op;
      counts.set(k, (counts.get(k) || 0) + 1);
    }
  }
  console.log(`${file}: ` + [...counts].map(([k, v]) => `${k} x${v}`).join(', '));
}
