/**
 * The text of gateway.proto, embedded so that compiled code (dist/) loads the service
 * definition without a .proto file beside it: tsc does not copy non-TS files, and a build
 * step that must remember to copy one is the kind of thing that breaks in a container image.
 * gateway.proto stays the readable source; gateway-link-grpc.test.ts checks the two are
 * identical. The text holds no backtick, backslash or "${", so a plain template is exact.
 */
export const GATEWAY_PROTO_TEXT = `// The router -> gateway link: a router (or a gateway relaying typing) hands one gateway a
// batch of deliveries for connections it holds. Loopback or private network only; there is
// no authentication on this service.
//
// Deliveries travel as JSON-encoded strings, one per core/model.ts Delivery (a
// discriminated union on kind). The union is not mirrored in protobuf on purpose: the
// model is the single source of truth, and the receiving gateway validates every element on
// receipt (known kind, required fields and their types) and refuses the whole call with
// INVALID_ARGUMENT, naming the bad field, if any element is malformed.
//
// Bounds: at most 10,000 deliveries and 4 MiB per request (the server's max receive length).
//
// KEEP IN SYNC with gateway-proto.ts, which embeds this text so that compiled code needs no
// file beside it; gateway-link-grpc.test.ts checks the two are identical.
syntax = "proto3";

package chat.gateway.v1;

service Gateway {
  // Resolves when the gateway took the batch (handed it to its connections' queues).
  rpc Deliver(DeliverRequest) returns (DeliverReply);
}

message DeliverRequest {
  // The gateway the sender believes it is talking to; a gateway that is not this one
  // refuses with FAILED_PRECONDITION (a stale address book must not misdeliver).
  string gateway_id = 1;
  // One JSON-encoded core/model.ts Delivery per element, in delivery order.
  repeated string deliveries = 2;
}

message DeliverReply {
  // How many deliveries the gateway took (equals the request's count on success).
  uint32 accepted = 1;
}
`;
