//! The JSON-RPC error codes venus-seal servers answer with.
//!
//! Standard JSON-RPC codes (-32700 … -32600) keep their meaning; the
//! implementation-defined range -32000 … -32099 is used as listed here.

/// The token is valid but does not allow the method: the message reads
/// `permission denied: Venus.Admin.Pause needs admin, token allows write`.
pub const PERMISSION_DENIED: i32 = -32001;

/// No usable token: missing `Authorization` header, not `Bearer <jwt>`,
/// bad signature, expired, or no known permission. The message starts with
/// `missing token:` or `invalid token:`.
pub const INVALID_TOKEN: i32 = -32002;

/// The parameters do not parse (a bad sector state name, a wrong type):
/// the standard JSON-RPC code.
pub const INVALID_PARAMS: i32 = -32602;
/// The method is not served (JSON-RPC 2.0's "method not found").
pub const METHOD_NOT_FOUND: i32 = -32601;

/// The named sector job does not exist: `no sector job 7`.
pub const UNKNOWN_JOB: i32 = -32010;

/// The job is in the wrong state for the command.
pub const REFUSED: i32 = -32011;

/// The worker is shutting down.
pub const SHUTTING_DOWN: i32 = -32012;

/// The worker's state store failed.
pub const STORE_FAILED: i32 = -32013;

/// Any other failure on the serving side.
pub const INTERNAL: i32 = -32603;
