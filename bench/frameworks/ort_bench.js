// Batch-1 latency of the six models in ONNX Runtime (onnxruntime-node, CPU).
//
//     THREADS=1 node bench/frameworks/ort_bench.js [MODEL...]
//
// Loads bench/frameworks/models/X.onnx (written by make_models.py; set
// MODELS_DIR to change), checks the output against PyTorch's (X.out.f32 for
// the input X.in.f32), then times one session.run per run after a warm-up.
// Session: intraOpNumThreads THREADS (default 1), interOpNumThreads 1,
// graphOptimizationLevel 'all', executionMode 'sequential'.  GFLOP/s = 2 x
// cnncc's multiply-accumulates (`build/cnncc --summary specs/X.arch`, as
// `make bench` uses) / median time.  Run from the repository root (or set
// CNNCC).  ORT_OPTIMIZED_DIR=dir also writes each optimized graph there.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const ort = require('onnxruntime-node');

const MODELS = ['lenet5', 'alexnet', 'vgg16', 'googlenet', 'resnet50', 'mobilenet'];
const RUNS = { lenet5: 20000, alexnet: 30, vgg16: 10, googlenet: 40, resnet50: 20, mobilenet: 40 };
const INPUT = {
  lenet5: [1, 1, 32, 32], alexnet: [1, 3, 227, 227], vgg16: [1, 3, 224, 224],
  googlenet: [1, 3, 224, 224], resnet50: [1, 3, 224, 224], mobilenet: [1, 3, 224, 224],
};
const dir = process.env.MODELS_DIR || path.join(__dirname, 'models');
const threads = parseInt(process.env.THREADS || '1', 10);

function cnnccMacs(name) {
  const out = execFileSync(process.env.CNNCC || 'build/cnncc', ['--summary', `specs/${name}.arch`], { encoding: 'utf8' });
  const m = out.match(/^Multiply-accumulates:\s*([\d,]+)/m);
  if (!m) throw new Error(`no Multiply-accumulates line for ${name}`);
  return Number(m[1].replace(/,/g, ''));
}

function readF32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

async function bench(name, runs) {
  const opts = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (process.env.ORT_OPTIMIZED_DIR) {
    opts.optimizedModelFilePath = path.join(process.env.ORT_OPTIMIZED_DIR, `${name}.opt.onnx`);
  }
  const session = await ort.InferenceSession.create(path.join(dir, `${name}.onnx`), opts);
  const x = new ort.Tensor('float32', readF32(path.join(dir, `${name}.in.f32`)), INPUT[name]);
  const feeds = { [session.inputNames[0]]: x };
  const out = (await session.run(feeds))[session.outputNames[0]].data;
  const ref = readF32(path.join(dir, `${name}.out.f32`));
  let diff = 0;
  for (let i = 0; i < ref.length; i++) diff = Math.max(diff, Math.abs(out[i] - ref[i]));
  if (out.length !== ref.length || !(diff < 1e-4)) {
    throw new Error(`${name}: ONNX Runtime's output differs from PyTorch's (max abs diff ${diff})`);
  }
  for (let i = 0; i < Math.max(3, Math.floor(runs / 10)); i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await session.release();
  return { med: median(times), min: Math.min(...times), diff };
}

async function main() {
  const names = process.argv.length > 2 ? process.argv.slice(2) : MODELS;
  console.log(`ONNX Runtime ${ort.env.versions.common} (onnxruntime-node, CPU EP), ${threads} intra-op thread(s), ` +
    `1 inter-op thread, graphOptimizationLevel all, sequential`);
  const pad = (s, n) => String(s).padStart(n);
  console.log(`${'model'.padEnd(10)} ${pad('runs', 8)} ${pad('median_ms', 12)} ${pad('min_ms', 12)} ${pad('GFLOP/s', 10)} ${pad('vs_torch', 10)}`);
  for (const name of names) {
    const macs = cnnccMacs(name);
    const runs = parseInt(process.env.RUNS || RUNS[name], 10);
    const r = await bench(name, runs);
    console.log(`${name.padEnd(10)} ${pad(runs, 8)} ${pad(r.med.toFixed(3), 12)} ${pad(r.min.toFixed(3), 12)} ` +
      `${pad((2 * macs / r.med / 1e6).toFixed(1), 10)} ${pad(r.diff.toExponential(1), 10)}`);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
