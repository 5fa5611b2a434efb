// Times ONNX Runtime (onnxruntime-node) on one model: node ort_bench.js SPEC.json
// SPEC: {model, threads, seconds, output_file, inputs: [{name, dtype, dims, file}]}, each
// input's file raw little-endian data. Writes the first output raw to output_file and
// prints JSON {p50, p90, runs}.
const fs = require('fs');
const ort = require('onnxruntime-node');

(async () => {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const session = await ort.InferenceSession.create(spec.model, {
    intraOpNumThreads: spec.threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const feeds = {};
  for (const inp of spec.inputs) {
    const buf = fs.readFileSync(inp.file);
    const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice();
    const data = inp.dtype === 'int64' ? new BigInt64Array(bytes.buffer) : new Float32Array(bytes.buffer);
    feeds[inp.name] = new ort.Tensor(inp.dtype, data, inp.dims);
  }
  let out = await session.run(feeds);
  for (let i = 0; i < 10; ++i) out = await session.run(feeds);
  const times = [];
  const start = process.hrtime.bigint();
  while (times.length < 2000) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (times.length >= 20 && Number(process.hrtime.bigint() - start) / 1e9 > spec.seconds) break;
  }
  times.sort((a, b) => a - b);
  const first = out[session.outputNames[0]].data;
  fs.writeFileSync(spec.output_file, Buffer.from(first.buffer, first.byteOffset, first.byteLength));
  console.log(JSON.stringify({
    p50: times[Math.floor(times.length * 0.5)], p90: times[Math.floor(times.length * 0.9)], runs: times.length,
  }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
