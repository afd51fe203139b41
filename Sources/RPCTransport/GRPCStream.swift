import RPCCore
import RPCDispatch

/// One HTTP/2 stream of a gRPC connection: what its request headers said, its inbound messages,
/// its call, and the reply bytes and trailers waiting to go out. Owned by its `GRPCSession`, on
/// the connection's event-loop thread.
final class GRPCStream {
    let id: Int32
    /// When its HEADERS began: a unary request must be complete within the frame timeout.
    let openedAt: ContinuousClock.Instant
    /// Why the request is refused before any call runs (nil: acceptable so far).
    var refusal: Refusal?
    /// The method its `:path` names, looked up as the header came (nil: none, or unknown).
    var pathMethod: MethodTable.Entry?
    /// A `:path` naming no method, without its leading `/`, for the UNIMPLEMENTED message.
    var unknownPath: String?
    var metadata = Metadata()
    var timeout: Duration?
    var headerBytes = 0
    var method: MethodTable.Entry?
    var assembler: GRPCMessageAssembler
    /// Request messages of a `.replyPerMessage` stream waiting for the one before to be answered.
    var waiting: [[UInt8]] = []
    /// The one request message of a unary call, kept until the client ends its side.
    var unaryRequest: [UInt8]?
    var deadline: ContinuousClock.Instant?
    var remoteEnded = false
    /// A call of this stream runs or waits for a worker.
    var callInFlight = false
    var blockingInFlight = false
    var cancellation: CallCancellation?
    /// HEADERS of the response went out (so an error is sent as trailers, not Trailers-Only).
    var responseStarted = false
    /// Reply bytes (prefixed messages) not yet taken by nghttp2, from `outboundOffset`.
    var outbound: [UInt8] = []
    var outboundOffset = 0
    /// The final status, once known: sent as trailers after the outbound bytes.
    var trailers: (status: StatusCode, message: String)?
    /// The response is complete (Trailers-Only sent, or trailers queued): nothing more is sent.
    var finished = false
    /// nghttp2 closed the stream (reset, or both sides done); a call in flight is then dropped.
    var closed = false

    /// A request refused from its headers: an HTTP status (not gRPC at all) or a gRPC status.
    enum Refusal {
        case http(status: Int)
        case grpc(StatusCode, String)
    }

    init(id: Int32, maxMessageSize: Int, openedAt: ContinuousClock.Instant) {
        self.id = id
        self.openedAt = openedAt
        assembler = GRPCMessageAssembler(maxMessageSize: maxMessageSize)
    }
}
