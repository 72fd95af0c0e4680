//! Lambda's documented quotas. Each constant names the quota page's wording so the value can
//! be checked against the AWS documentation.

/// Smallest configurable memory, in MB.
pub const MEMORY_MIN_MB: u32 = 128;
/// Largest configurable memory, in MB.
pub const MEMORY_MAX_MB: u32 = 10_240;
/// Default memory, in MB.
pub const MEMORY_DEFAULT_MB: u32 = 128;
/// Shortest timeout, in seconds.
pub const TIMEOUT_MIN_S: u32 = 1;
/// Longest timeout, in seconds (15 minutes).
pub const TIMEOUT_MAX_S: u32 = 900;
/// Default timeout, in seconds.
pub const TIMEOUT_DEFAULT_S: u32 = 3;
/// Smallest `/tmp`, in MB.
pub const EPHEMERAL_MIN_MB: u32 = 512;
/// Largest `/tmp`, in MB.
pub const EPHEMERAL_MAX_MB: u32 = 10_240;
/// Total size of environment variables (keys and values), in bytes.
pub const ENV_VARS_MAX_BYTES: usize = 4 * 1024;
/// Deployment package uploaded directly, zipped, in bytes (50 MB).
pub const CODE_ZIPPED_MAX_BYTES: u64 = 50 * 1024 * 1024;
/// Deployment package unzipped, in bytes (250 MB).
pub const CODE_UNZIPPED_MAX_BYTES: u64 = 250 * 1024 * 1024;
/// Entries in one deployment package. Lambda does not document one; a bound keeps a zip of
/// millions of empty files from exhausting inodes.
pub const CODE_MAX_ENTRIES: usize = 100_000;
/// Synchronous invocation request payload, in bytes (6 MB).
pub const SYNC_PAYLOAD_MAX_BYTES: usize = 6 * 1024 * 1024;
/// Synchronous invocation response payload as the Runtime API enforces it (6 MiB + 100 bytes).
pub const RESPONSE_PAYLOAD_MAX_BYTES: usize = 6 * 1024 * 1024 + 100;
/// Bytes of log returned by `X-Amz-Log-Type: Tail`.
pub const LOG_TAIL_BYTES: usize = 4 * 1024;
/// Client context header, in bytes.
pub const CLIENT_CONTEXT_MAX_BYTES: usize = 3_583;
/// Description length.
pub const DESCRIPTION_MAX_CHARS: usize = 256;
/// Handler length.
pub const HANDLER_MAX_CHARS: usize = 128;
/// Function name length when given as a plain name.
pub const FUNCTION_NAME_MAX_CHARS: usize = 64;
/// Items per ListFunctions page, whatever MaxItems asks.
pub const LIST_PAGE_MAX: usize = 50;
/// Time allowed for a runtime's init phase before Lambda gives up, in seconds.
pub const INIT_TIMEOUT_S: u64 = 10;
/// Open file descriptors per environment.
pub const FILE_DESCRIPTORS: u64 = 1_024;
/// Processes or threads per environment.
pub const PROCESSES: u64 = 1_024;
/// Tags per resource.
pub const TAGS_MAX: usize = 50;
/// Characters in a tag key.
pub const TAG_KEY_MAX_CHARS: usize = 128;
/// Characters in a tag value.
pub const TAG_VALUE_MAX_CHARS: usize = 256;
/// Bytes of a function's resource-based policy.
pub const POLICY_MAX_BYTES: usize = 20 * 1024;
/// Layers one function may use.
pub const LAYERS_MAX: usize = 5;
/// Largest payload of an asynchronous invocation (`InvocationType: Event`).
pub const ASYNC_PAYLOAD_MAX_BYTES: usize = 1024 * 1024;
/// Largest payload of the deprecated InvokeAsync.
pub const INVOKE_ASYNC_PAYLOAD_MAX_BYTES: usize = 256 * 1024;
/// MaximumRetryAttempts of asynchronous invocation: at most, and by default.
pub const ASYNC_RETRIES_MAX: u32 = 2;
/// MaximumEventAgeInSeconds: least, most and default.
pub const EVENT_AGE_MIN_S: u32 = 60;
/// See [`EVENT_AGE_MIN_S`].
pub const EVENT_AGE_MAX_S: u32 = 21_600;
