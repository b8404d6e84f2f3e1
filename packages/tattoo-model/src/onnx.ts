// The subset of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto) that a converted Keras trunk
// needs, encoded by hand with protobuf-es's BinaryWriter. Field numbers are the official ones,
// written next to each field. Writing fields in a fixed order with no maps makes the bytes a pure
// function of the graph: the build's hash check relies on that.
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** AttributeProto.AttributeType values used here. */
const AttributeType = { INT: 2, INTS: 7 } as const;

export interface Tensor {
  name: string;
  dims: number[];
  /** Float32Array for FLOAT, BigInt64Array for INT64; stored little-endian in raw_data. */
  data: Float32Array | BigInt64Array;
}

export type Attribute = { name: string; int: number } | { name: string; ints: number[] };

export interface Node {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
}

export interface ValueInfo {
  name: string;
  /** FLOAT tensors only: every graph input and output here is float. */
  dims: number[];
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Tensor[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export interface Model {
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  graph: Graph;
}

type Message<T> = (w: BinaryWriter, value: T) => void;

function message<T>(w: BinaryWriter, field: number, encode: Message<T>, value: T): void {
  w.tag(field, WireType.LengthDelimited).fork();
  encode(w, value);
  w.join();
}

function string(w: BinaryWriter, field: number, value: string): void {
  if (value !== "") w.tag(field, WireType.LengthDelimited).string(value);
}

function littleEndian(data: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(data.byteLength);
  const view = new DataView(bytes.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  else data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return bytes;
}

const tensor: Message<Tensor> = (w, t) => {
  for (const d of t.dims) w.tag(1, WireType.Varint).int64(d); // dims = 1 (unpacked is valid for proto3 readers)
  w.tag(2, WireType.Varint).int32(t.data instanceof Float32Array ? DataType.FLOAT : DataType.INT64); // data_type = 2
  string(w, 8, t.name); // name = 8
  w.tag(9, WireType.LengthDelimited).bytes(littleEndian(t.data)); // raw_data = 9
};

const attribute: Message<Attribute> = (w, a) => {
  string(w, 1, a.name); // name = 1
  if ("int" in a) {
    w.tag(3, WireType.Varint).int64(a.int); // i = 3
    w.tag(20, WireType.Varint).int32(AttributeType.INT); // type = 20
  } else {
    for (const v of a.ints) w.tag(8, WireType.Varint).int64(v); // ints = 8
    w.tag(20, WireType.Varint).int32(AttributeType.INTS);
  }
};

const node: Message<Node> = (w, n) => {
  for (const i of n.inputs) w.tag(1, WireType.LengthDelimited).string(i); // input = 1
  for (const o of n.outputs) w.tag(2, WireType.LengthDelimited).string(o); // output = 2
  string(w, 3, n.name); // name = 3
  string(w, 4, n.opType); // op_type = 4
  for (const a of n.attributes) message(w, 5, attribute, a); // attribute = 5
};

// TensorShapeProto.Dimension: dim_value = 1.
const dimension: Message<number> = (w, d) => void w.tag(1, WireType.Varint).int64(d);
// TensorShapeProto: dim = 1.
const shape: Message<number[]> = (w, dims) => dims.forEach((d) => message(w, 1, dimension, d));
// TypeProto.Tensor: elem_type = 1, shape = 2.
const tensorType: Message<number[]> = (w, dims) => {
  w.tag(1, WireType.Varint).int32(DataType.FLOAT);
  message(w, 2, shape, dims);
};
// TypeProto: tensor_type = 1.
const type: Message<number[]> = (w, dims) => message(w, 1, tensorType, dims);
// ValueInfoProto: name = 1, type = 2.
const valueInfo: Message<ValueInfo> = (w, v) => {
  string(w, 1, v.name);
  message(w, 2, type, v.dims);
};

const graph: Message<Graph> = (w, g) => {
  for (const n of g.nodes) message(w, 1, node, n); // node = 1
  string(w, 2, g.name); // name = 2
  for (const t of g.initializers) message(w, 5, tensor, t); // initializer = 5
  for (const v of g.inputs) message(w, 11, valueInfo, v); // input = 11
  for (const v of g.outputs) message(w, 12, valueInfo, v); // output = 12
};

// OperatorSetIdProto: domain = 1 (empty: the default ai.onnx domain), version = 2.
const opsetId: Message<number> = (w, version) => void w.tag(2, WireType.Varint).int64(version);

/** ModelProto bytes: ir_version = 1, producer_name = 2, producer_version = 3, doc_string = 6, graph = 7, opset_import = 8. */
export function encodeModel(m: Model): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int64(m.irVersion);
  string(w, 2, m.producerName);
  string(w, 3, m.producerVersion);
  string(w, 6, m.docString);
  message(w, 7, graph, m.graph);
  message(w, 8, opsetId, m.opsetVersion);
  return w.finish();
}
