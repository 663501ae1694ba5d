/**
 * Small hand-assembled WebAssembly SIMD routines that work directly on the wasm backend's heap (the module imports
 * the backend's own memory, so there is no copy between JS and wasm). Only branch-heavy elementwise passes that JS
 * does badly live here; the arithmetic-heavy work stays on the backend's XNNPACK kernels.
 *
 * `simdFor(backend)` returns the routines bound to that backend's memory, or undefined where the memory cannot be
 * reached or WebAssembly SIMD is unavailable (the callers then use their JS loops).
 */
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

export interface SimdRoutines {
  /**
   * 2×2 stride-2 max-pool gradient (no padding, even sizes, c % 4 === 0). Byte offsets into the heap of x
   * [rows·2, 2·ow, c], dy [rows, ow, c] and dx (x's shape); rows = n·oh. The first maximum (row-major) from −∞
   * receives dy, every other cell 0 — the CPU backend's rule.
   */
  maxPoolGrad2x2(x: number, dy: number, dx: number, rows: number, ow: number, c: number): void;
  /**
   * memmove of `bytes` bytes between heap byte offsets (wasm `memory.copy`). copyWithin on the threaded build's
   * SharedArrayBuffer heap measured 5–10× slower for copies of tens of kB.
   */
  copy(dst: number, src: number, bytes: number): void;
  /** out[c] = Σ_r x[r, c] over `rows` rows of `cols` floats (cols % 4 === 0, rows ≥ 1), float32 accumulators. */
  colSum(x: number, out: number, rows: number, cols: number): void;
  /** out = dy where y > 0, else +0 (the ReLU gradient), over n4 groups of 4 floats. */
  reluGrad(dy: number, y: number, out: number, n4: number): void;
  /**
   * out[t, o] += Σ_m colsT[t, m] · dy[m, o] for t < taps, m < rows, o < oc (oc % 16 === 0; rows, taps ≥ 1): the filter
   * gradient of a layer with few taps (no operand packing, which dominates XNNPACK's cost for this shape).
   */
  smallKGemm(colsT: number, dy: number, out: number, taps: number, rows: number, oc: number): void;
  /**
   * One Adam step (see adam.ts) over n4 groups of 4 floats, float32 arithmetic; c1, c2 the bias corrections. Moments
   * that come out subnormal are stored as 0.
   */
  adam(
    w: number,
    m: number,
    v: number,
    g: number,
    nw: number,
    nm: number,
    nv: number,
    n4: number,
    b1: number,
    a1: number,
    b2: number,
    a2: number,
    c1: number,
    c2: number,
    eps: number,
    step: number,
  ): void;
}

/** 2⁻¹²⁶: float32 values of smaller magnitude (other than 0) are subnormal. */
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

// --- a minimal assembler -------------------------------------------------------------------------------------------

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

const str = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (d: number) => [0x0c, ...uleb(d)],
  brIf: (d: number) => [0x0d, ...uleb(d)],
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (v: number) => [0x41, ...sleb(v)],
  add: [0x6a],
  sub: [0x6b],
  mul: [0x6c],
  shl: [0x74],
  geU: [0x4f],
  load: [0xfd, 0x00, 0x00, 0x00],
  store: [0xfd, 0x0b, 0x00, 0x00],
  /** v128.load / v128.store with a constant byte offset. */
  loadAt: (offset: number) => [0xfd, 0x00, 0x00, ...uleb(offset)],
  storeAt: (offset: number) => [0xfd, 0x0b, 0x00, ...uleb(offset)],
  splatF32: [0xfd, 0x13],
  f32: (v: number) => [0x43, ...new Uint8Array(new Float32Array([v]).buffer)],
  gt: [0xfd, 0x44],
  and: [0xfd, 0x4e],
  andnot: [0xfd, 0x4f],
  bitselect: [0xfd, 0x52],
  fadd: [0xfd, 0xe4, 0x01],
  fmul: [0xfd, 0xe6, 0x01],
  fdiv: [0xfd, 0xe7, 0x01],
  fsqrt: [0xfd, 0xe3, 0x01],
  fabs: [0xfd, 0xe0, 0x01],
  ge: [0xfd, 0x46],
  eqz: [0x45],
  ltU: [0x49],
  select: [0x1b],
  loadF32: [0x2a, 0x02, 0x00],
};

/** A function body from its local declarations ([count, type] pairs) and code (without the final `end`). */
function body(locals: [number, number][], code: number[]): number[] {
  const b = [...vec(locals.map(([n, t]) => [...uleb(n), t])), ...code, ...op.end];
  return [...uleb(b.length), ...b];
}

/**
 * `for (o = 0; o !== n4 · 16; o += 16) inner(o)` with local `o` and the count in local `n4` (overwritten with the end
 * offset). Empty when n4 is 0.
 */
function loop16(n4: number, o: number, inner: number[]): number[] {
  return [
    ...op.get(n4),
    ...op.i32(4),
    ...op.shl,
    ...op.set(n4),
    ...op.block,
    ...op.get(n4),
    ...op.eqz,
    ...op.brIf(0),
    ...op.loop,
    ...inner,
    ...op.get(o),
    ...op.i32(16),
    ...op.add,
    ...op.tee(o),
    ...op.get(n4),
    ...op.sub,
    ...op.brIf(0),
    ...op.end,
    ...op.end,
  ];
}

const at = (base: number, o: number): number[] => [...op.get(base), ...op.get(o), ...op.add];

function colSumBody(): number[] {
  // params 0 x, 1 out, 2 rows, 3 cols; locals 4 n4 (cols/4), 5 o (column byte offset), 6 p, 7 r, 8 stride; 9 acc (v128)
  const [X, OUT, ROWS, COLS, N4, O, P, R, STRIDE, ACC] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  return body(
    [
      [5, I32],
      [1, V128],
    ],
    [
      ...op.get(COLS),
      ...op.i32(2),
      ...op.shl,
      ...op.set(STRIDE),
      ...op.get(COLS),
      ...op.i32(2),
      ...op.shl,
      ...op.i32(4),
      ...[0x76] /* i32.shr_u */,
      ...op.set(N4),
      ...loop16(N4, O, [
        ...op.f32(0),
        ...op.splatF32,
        ...op.set(ACC),
        ...at(X, O),
        ...op.set(P),
        ...op.get(ROWS),
        ...op.set(R),
        ...op.loop,
        ...op.get(ACC),
        ...op.get(P),
        ...op.load,
        ...op.fadd,
        ...op.set(ACC),
        ...op.get(P),
        ...op.get(STRIDE),
        ...op.add,
        ...op.set(P),
        ...op.get(R),
        ...op.i32(1),
        ...op.sub,
        ...op.tee(R),
        ...op.brIf(0),
        ...op.end,
        ...at(OUT, O),
        ...op.get(ACC),
        ...op.store,
      ]),
    ],
  );
}

function reluGradBody(): number[] {
  // params 0 dy, 1 y, 2 out, 3 n4; local 4 o
  const [DY, Y, OUT, N4, O] = [0, 1, 2, 3, 4];
  return body(
    [[1, I32]],
    loop16(N4, O, [
      ...at(OUT, O),
      ...at(DY, O),
      ...op.load,
      ...at(Y, O),
      ...op.load,
      ...op.f32(0),
      ...op.splatF32,
      ...op.gt,
      ...op.and,
      ...op.store,
    ]),
  );
}

function smallKGemmBody(): number[] {
  // params 0 colsT, 1 dy, 2 out, 3 taps, 4 rows, 5 oc; i32 locals 6 rowB, 7 mb, 8 mEnd, 9 t, 10 ob, 11 pc, 12 pcEnd,
  // 13 pd, 14 pa; v128 locals 15 s, 16–19 four accumulators. Rows in blocks of 512 (a block of dy stays in cache for
  // all taps); for each tap and 16 output channels, the 4 accumulators stay in registers over the block's rows.
  const [C, DY, OUT, TAPS, ROWS, OC, ROWB, MB, MEND, T, OB, PC, PCEND, PD, PA, S] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  ];
  const ACC = [16, 17, 18, 19] as const;
  const colsAt = (row: number): number[] => [
    ...op.get(C),
    ...op.get(T),
    ...op.get(ROWS),
    ...op.mul,
    ...op.get(row),
    ...op.add,
    ...op.i32(2),
    ...op.shl,
    ...op.add,
  ];
  return body(
    [
      [9, I32],
      [5, V128],
    ],
    [
      ...op.get(OC),
      ...op.i32(2),
      ...op.shl,
      ...op.set(ROWB),
      ...op.loop, // blocks
      ...op.get(MB),
      ...op.i32(512),
      ...op.add,
      ...op.get(ROWS),
      ...op.get(MB),
      ...op.i32(512),
      ...op.add,
      ...op.get(ROWS),
      ...op.ltU,
      ...op.select,
      ...op.set(MEND),
      ...op.i32(0),
      ...op.set(T),
      ...op.loop, // taps
      ...op.i32(0),
      ...op.set(OB),
      ...op.loop, // output channels, 16 at a time
      ...op.get(OUT),
      ...op.get(T),
      ...op.get(ROWB),
      ...op.mul,
      ...op.add,
      ...op.get(OB),
      ...op.add,
      ...op.set(PA),
      ...ACC.flatMap((a, k) => [...op.get(PA), ...op.loadAt(16 * k), ...op.set(a)]),
      ...colsAt(MB),
      ...op.set(PC),
      ...colsAt(MEND),
      ...op.set(PCEND),
      ...op.get(DY),
      ...op.get(MB),
      ...op.get(ROWB),
      ...op.mul,
      ...op.add,
      ...op.get(OB),
      ...op.add,
      ...op.set(PD),
      ...op.loop, // rows of the block
      ...op.get(PC),
      ...op.loadF32,
      ...op.splatF32,
      ...op.set(S),
      ...ACC.flatMap((a, k) => [
        ...op.get(a),
        ...op.get(S),
        ...op.get(PD),
        ...op.loadAt(16 * k),
        ...op.fmul,
        ...op.fadd,
        ...op.set(a),
      ]),
      ...op.get(PD),
      ...op.get(ROWB),
      ...op.add,
      ...op.set(PD),
      ...op.get(PC),
      ...op.i32(4),
      ...op.add,
      ...op.tee(PC),
      ...op.get(PCEND),
      ...op.sub,
      ...op.brIf(0),
      ...op.end,
      ...ACC.flatMap((a, k) => [...op.get(PA), ...op.get(a), ...op.storeAt(16 * k)]),
      ...op.get(OB),
      ...op.i32(64),
      ...op.add,
      ...op.tee(OB),
      ...op.get(ROWB),
      ...op.sub,
      ...op.brIf(0),
      ...op.end,
      ...op.get(T),
      ...op.i32(1),
      ...op.add,
      ...op.tee(T),
      ...op.get(TAPS),
      ...op.sub,
      ...op.brIf(0),
      ...op.end,
      ...op.get(MEND),
      ...op.tee(MB),
      ...op.get(ROWS),
      ...op.sub,
      ...op.brIf(0),
      ...op.end,
    ],
  );
}

function adamBody(): number[] {
  // params 0 w, 1 m, 2 v, 3 g, 4 nw, 5 nm, 6 nv, 7 n4 (i32); 8 b1, 9 a1, 10 b2, 11 a2, 12 c1, 13 c2, 14 eps, 15 step
  // (f32); locals 16 o (i32); 17–24 the scalars splatted, 25 G, 26 M, 27 V, 28 the smallest normal float (v128)
  const [W, M, V, G, NW, NM, NV, N4, O] = [0, 1, 2, 3, 4, 5, 6, 7, 16];
  const sp = (k: number): number => 17 + k; // splat of f32 param 8 + k
  const [vG, vM, vV, MIN] = [25, 26, 27, 28];
  const splats = Array.from({ length: 8 }, (_, k) => [...op.get(8 + k), ...op.splatF32, ...op.set(sp(k))]).flat();
  const [B1, A1, B2, A2, C1, C2, EPS, STEP] = [0, 1, 2, 3, 4, 5, 6, 7].map(sp) as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  // x = 0 where |x| is subnormal (see adam.ts: why moments are flushed to zero).
  const flush = (x: number): number[] => [
    ...op.get(x),
    ...op.get(x),
    ...op.fabs,
    ...op.get(MIN),
    ...op.ge,
    ...op.and,
    ...op.set(x),
  ];
  return body(
    [
      [1, I32],
      [12, V128],
    ],
    [
      ...splats,
      ...op.f32(FLOAT32_MIN_NORMAL),
      ...op.splatF32,
      ...op.set(MIN),
      ...loop16(N4, O, [
        ...at(G, O),
        ...op.load,
        ...op.set(vG),
        ...at(M, O),
        ...op.load,
        ...op.get(B1),
        ...op.fmul,
        ...op.get(vG),
        ...op.get(A1),
        ...op.fmul,
        ...op.fadd,
        ...op.set(vM),
        ...flush(vM),
        ...at(V, O),
        ...op.load,
        ...op.get(B2),
        ...op.fmul,
        ...op.get(vG),
        ...op.get(vG),
        ...op.fmul,
        ...op.get(A2),
        ...op.fmul,
        ...op.fadd,
        ...op.set(vV),
        ...flush(vV),
        ...at(NM, O),
        ...op.get(vM),
        ...op.store,
        ...at(NV, O),
        ...op.get(vV),
        ...op.store,
        ...at(NW, O),
        ...op.get(vM),
        ...op.get(C1),
        ...op.fdiv,
        ...op.get(vV),
        ...op.get(C2),
        ...op.fdiv,
        ...op.fsqrt,
        ...op.get(EPS),
        ...op.fadd,
        ...op.fdiv,
        ...op.get(STEP),
        ...op.fmul,
        ...at(W, O),
        ...op.load,
        ...op.fadd,
        ...op.store,
      ]),
    ],
  );
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** maxPoolGrad2x2(x, dy, dx, rows, ow, c) — see SimdRoutines. */
function maxPoolGrad2x2Body(): number[] {
  // params 0 x, 1 dy (advances), 2 dx, 3 rows, 4 ow, 5 c; i32 locals 6 r, 7 xo, 8 k, 9 q, 10 cb, 11 rowb, 12 a, 13 d;
  // v128 locals 14 v00, 15 v01, 16 v10, 17 v11, 18 best, 19 m0, 20 m1, 21 m2, 22 m3, 23 t, 24 ninf.
  const [X, DY, DX, ROWS, OW, C, R, XO, K, Q, CB, ROWB, A, D] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const [V00, V01, V10, V11, BEST, M0, M1, M2, M3, T, NINF] = [14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24];
  const loadAt = (base: number, ...off: number[][]): number[] => [...op.get(base), ...off.flat(), ...op.load];
  const code: number[] = [
    ...op.get(C),
    ...op.i32(2),
    ...op.shl,
    ...op.set(CB),
    ...op.get(OW),
    ...op.i32(1),
    ...op.shl,
    ...op.get(CB),
    ...op.mul,
    ...op.set(ROWB),
    ...op.f32(Number.NEGATIVE_INFINITY),
    ...op.splatF32,
    ...op.set(NINF),
    ...op.block,
    ...op.loop, // rows
    ...op.get(R),
    ...op.get(ROWS),
    ...op.geU,
    ...op.brIf(1),
    ...op.i32(0),
    ...op.set(XO),
    ...op.loop, // columns
    ...op.i32(0),
    ...op.set(K),
    ...op.loop, // channels, 4 at a time
    ...op.get(X),
    ...op.get(Q),
    ...op.add,
    ...op.get(K),
    ...op.add,
    ...op.set(A),
    ...op.get(DX),
    ...op.get(Q),
    ...op.add,
    ...op.get(K),
    ...op.add,
    ...op.set(D),
    ...loadAt(A),
    ...op.set(V00),
    ...loadAt(A, op.get(CB), op.add),
    ...op.set(V01),
    ...loadAt(A, op.get(ROWB), op.add),
    ...op.set(V10),
    ...loadAt(A, op.get(ROWB), op.add, op.get(CB), op.add),
    ...op.set(V11),
    // best = v00 where v00 > −∞; each later cell wins only if strictly greater (first maximum wins).
    ...op.get(V00),
    ...op.get(NINF),
    ...op.gt,
    ...op.set(M0),
    ...op.get(V00),
    ...op.get(NINF),
    ...op.get(M0),
    ...op.bitselect,
    ...op.set(BEST),
    ...op.get(V01),
    ...op.get(BEST),
    ...op.gt,
    ...op.set(M1),
    ...op.get(V01),
    ...op.get(BEST),
    ...op.get(M1),
    ...op.bitselect,
    ...op.set(BEST),
    ...op.get(V10),
    ...op.get(BEST),
    ...op.gt,
    ...op.set(M2),
    ...op.get(V10),
    ...op.get(BEST),
    ...op.get(M2),
    ...op.bitselect,
    ...op.set(BEST),
    ...op.get(V11),
    ...op.get(BEST),
    ...op.gt,
    ...op.set(M3),
    // t = dy; cell 11 gets t & m3, then t &= ~m3; cell 10 gets t & m2; …
    ...loadAt(DY),
    ...op.set(T),
    ...op.get(D),
    ...op.get(ROWB),
    ...op.add,
    ...op.get(CB),
    ...op.add,
    ...op.get(T),
    ...op.get(M3),
    ...op.and,
    ...op.store,
    ...op.get(T),
    ...op.get(M3),
    ...op.andnot,
    ...op.set(T),
    ...op.get(D),
    ...op.get(ROWB),
    ...op.add,
    ...op.get(T),
    ...op.get(M2),
    ...op.and,
    ...op.store,
    ...op.get(T),
    ...op.get(M2),
    ...op.andnot,
    ...op.set(T),
    ...op.get(D),
    ...op.get(CB),
    ...op.add,
    ...op.get(T),
    ...op.get(M1),
    ...op.and,
    ...op.store,
    ...op.get(T),
    ...op.get(M1),
    ...op.andnot,
    ...op.set(T),
    ...op.get(D),
    ...op.get(T),
    ...op.get(M0),
    ...op.and,
    ...op.store,
    ...op.get(DY),
    ...op.i32(16),
    ...op.add,
    ...op.set(DY),
    ...op.get(K),
    ...op.i32(16),
    ...op.add,
    ...op.tee(K),
    ...op.get(CB),
    ...op.sub,
    ...op.brIf(0),
    ...op.end, // channels
    // next window: two cells to the right
    ...op.get(Q),
    ...op.get(CB),
    ...op.i32(1),
    ...op.shl,
    ...op.add,
    ...op.set(Q),
    ...op.get(XO),
    ...op.i32(1),
    ...op.add,
    ...op.tee(XO),
    ...op.get(OW),
    ...op.sub,
    ...op.brIf(0),
    ...op.end, // columns
    // skip the window's second input row
    ...op.get(Q),
    ...op.get(ROWB),
    ...op.add,
    ...op.set(Q),
    ...op.get(R),
    ...op.i32(1),
    ...op.add,
    ...op.set(R),
    ...op.br(0),
    ...op.end, // rows
    ...op.end, // block
    ...op.end, // function
  ];
  const locals = vec([
    [...uleb(8), I32],
    [...uleb(11), V128],
  ]);
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

function copyBody(): number[] {
  const body = [...vec([]), ...op.get(0), ...op.get(1), ...op.get(2), 0xfc, ...uleb(10), 0x00, 0x00, ...op.end];
  return [...uleb(body.length), ...body];
}

function moduleBytes(shared: boolean): Uint8Array {
  const fn = (...params: number[]): number[] => [0x60, ...vec(params.map((p) => [p])), ...vec([])];
  const type = section(
    1,
    vec([
      fn(I32, I32, I32, I32, I32, I32),
      fn(I32, I32, I32),
      fn(I32, I32, I32, I32),
      fn(I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32),
    ]),
  );
  // (type 0, six i32 params, is shared by maxPoolGrad2x2 and smallKGemm)
  // Import the backend's memory: shared (threaded build, maximum 4 GiB) or not.
  const limits = shared ? [0x03, ...uleb(0), ...uleb(65536)] : [0x00, ...uleb(0)];
  const imports = section(2, vec([[...str("env"), ...str("memory"), 0x02, ...limits]]));
  const funcs = section(3, vec([[0], [1], [2], [2], [3], [0]]));
  const names = ["maxPoolGrad2x2", "copy", "colSum", "reluGrad", "adam", "smallKGemm"];
  const exports = section(7, vec(names.map((name, i) => [...str(name), 0x00, i])));
  const code = section(
    10,
    vec([maxPoolGrad2x2Body(), copyBody(), colSumBody(), reluGradBody(), adamBody(), smallKGemmBody()]),
  );
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...type,
    ...imports,
    ...funcs,
    ...exports,
    ...code,
  ]);
}

// --- binding to a backend ------------------------------------------------------------------------------------------

/** The few WebAssembly JS API members used here (the project's TS libs do not declare the namespace). */
interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
interface WasmApi {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface ModuleWithMemory {
  wasmMemory?: WasmMemory;
  asm?: { memory?: WasmMemory };
  wasmExports?: { memory?: WasmMemory };
}

const bound = new WeakMap<object, SimdRoutines | null>();

export function simdFor(backend: BackendWasm): SimdRoutines | undefined {
  const mod = backend.wasm as unknown as ModuleWithMemory;
  const cached = bound.get(mod);
  if (cached !== undefined) return cached ?? undefined;
  let routines: SimdRoutines | null = null;
  try {
    const memory = mod.wasmMemory ?? mod.asm?.memory ?? mod.wasmExports?.memory;
    if (memory instanceof WA.Memory) {
      const shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
      const instance = new WA.Instance(new WA.Module(moduleBytes(shared)), { env: { memory } });
      routines = instance.exports as unknown as SimdRoutines;
    }
  } catch {
    routines = null;
  }
  bound.set(mod, routines);
  return routines ?? undefined;
}
