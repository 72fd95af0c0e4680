"""Lamina's bootstrap for the managed python3.x runtimes.

It does what Lambda's Python runtime does, with the standard library only: load the handler
named by _HANDLER once per environment (init), then loop on the Runtime API, calling the
handler with the decoded event and a context object, and posting the result or the error.
Error types and messages follow Lambda's own (Runtime.ImportModuleError,
Runtime.HandlerNotFound, Runtime.UserCodeSyntaxError, Runtime.MalformedHandlerName,
Runtime.MarshalError, Runtime.UnmarshalError, and the exception's class name otherwise).

This file is embedded in the lamina binary and written to the runtime directory at start.
"""

import importlib
import json
import logging
import os
import socket
import sys
import time

API_PREFIX = "/2018-06-01/runtime"


class FaultError(Exception):
    """A failure with a Lambda error type of its own, rather than the exception's class."""

    def __init__(self, error_type, message, stack=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


class Headers(dict):
    """Response headers with case-insensitive lookup."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)


class RuntimeClient:
    """A persistent HTTP/1.1 connection to this environment's Runtime API.

    A small client on a plain socket rather than http.client: importing http.client costs
    ~20 ms (it pulls in the email parser and ssl), which every cold start would pay.
    """

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.address = (host, int(port))
        self.sock = None
        self.buf = b""

    def _connect(self):
        # No timeout: /next is a long poll that may last as long as the environment.
        self.sock = socket.create_connection(self.address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("runtime api closed the connection")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("runtime api closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _request(self, method, path, body=b"", headers=None):
        lines = ["%s %s%s HTTP/1.1" % (method, API_PREFIX, path), "Host: runtime"]
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        lines.append("Content-Length: %d" % len(body))
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self._connect()
                self.sock.sendall(request)
                head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
                status = int(head[0].split(" ", 2)[1])
                resp_headers = Headers()
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    resp_headers[name.strip().lower()] = value.strip()
                length = int(resp_headers.get("content-length", "0"))
                return status, resp_headers, self._read_exact(length)
            except (OSError, ValueError, IndexError):
                if self.sock is not None:
                    self.sock.close()
                self.sock = None
                if attempt == 1:
                    raise

    def next(self):
        status, headers, body = self._request("GET", "/invocation/next")
        if status != 200:
            # The platform is closing this environment.
            sys.exit(0)
        return headers, body

    def response(self, request_id, body):
        self._request("POST", "/invocation/%s/response" % request_id, body)

    def error(self, request_id, error):
        self._post_error("/invocation/%s/error" % request_id, error)

    def init_error(self, error):
        self._post_error("/init/error", error)

    def _post_error(self, path, error):
        body = json.dumps(error).encode()
        headers = {
            "Content-Type": "application/vnd.aws.lambda.error+json",
            "Lambda-Runtime-Function-Error-Type": error["errorType"],
        }
        self._request("POST", path, body, headers)


class CognitoIdentity:
    def __init__(self, data):
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class Client:
    def __init__(self, data):
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    def __init__(self, data):
        self.client = Client(data.get("client") or {})
        self.custom = data.get("custom")
        self.env = data.get("env")


class LambdaContext:
    """The context object Lambda passes to Python handlers."""

    def __init__(self, request_id, deadline_ms, invoked_arn, client_context, identity):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = deadline_ms
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(identity or {})

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))
        sys.stdout.flush()

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s])"
            % (
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
            )
        )


class RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = RequestIdFilter.request_id
        return True


# AWS_LAMBDA_LOG_LEVEL (a function's ApplicationLogLevel) as the logging module's levels.
LEVELS = {"TRACE": 5, "DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING,
          "ERROR": logging.ERROR, "FATAL": logging.CRITICAL}


def json_logs():
    return os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"


def iso_now(created=None):
    t = time.time() if created is None else created
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


class JsonFormatter(logging.Formatter):
    """Lambda's JSON records: timestamp, level, message, logger, requestId, and the
    exception's type, message and stack when there is one."""

    def format(self, record):
        doc = {
            "timestamp": iso_now(record.created),
            "level": {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(record.levelname, record.levelname),
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", ""),
        }
        if record.exc_info and record.exc_info[0] is not None:
            import traceback

            doc["errorType"] = record.exc_info[0].__name__
            doc["errorMessage"] = str(record.exc_info[1])
            doc["stackTrace"] = traceback.format_tb(record.exc_info[2])
        return json.dumps(doc, default=str) + "\n"


class TextFormatter(logging.Formatter):
    """Lambda's text records, each ending its line, an exception's traceback included."""

    def format(self, record):
        return super().format(record) + "\n"


def install_logging():
    """Lambda's formats for the logging module: `[LEVEL]<tab>time<tab>request id<tab>message`
    as text, or one JSON record per line, filtered by AWS_LAMBDA_LOG_LEVEL, when the
    function's LogFormat is JSON."""
    handler = logging.StreamHandler(sys.stdout)
    if json_logs():
        formatter = JsonFormatter()
        level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper()
        logging.addLevelName(5, "TRACE")
        logging.getLogger().setLevel(LEVELS.get(level, logging.INFO))
    else:
        formatter = TextFormatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.terminator = ""
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)


def load_handler(name):
    try:
        module_name, function_name = name.rsplit(".", 1)
    except ValueError as e:
        raise FaultError(
            "Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (name, e)
        )
    module_name = module_name.replace("/", ".")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module %s as a handler module" % module_name,
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise FaultError(
            "Runtime.ImportModuleError",
            "Unable to import module '%s': %s" % (module_name, e),
        )
    except SyntaxError as e:
        stack = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultError(
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '%s': %s" % (module_name, e),
            stack,
        )
    handler = getattr(module, function_name, None)
    if handler is None:
        # As in Lambda, a missing handler fails each invocation, not the init.
        fault = FaultError(
            "Runtime.HandlerNotFound",
            "Handler '%s' missing on module '%s'" % (function_name, module_name),
        )

        def missing(event, context):
            raise fault

        return missing
    return handler


def error_document(exc, request_id=""):
    import traceback

    if isinstance(exc, FaultError):
        return {
            "errorMessage": exc.message,
            "errorType": exc.error_type,
            "requestId": request_id,
            "stackTrace": exc.stack,
        }
    # The bootstrap's own frames are no part of the function's error, as in Lambda.
    tb = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(tb),
    }


def log_error(doc):
    if json_logs():
        record = {"timestamp": iso_now(), "level": "ERROR", "message": doc["errorMessage"],
                  "errorType": doc["errorType"], "errorMessage": doc["errorMessage"],
                  "stackTrace": doc["stackTrace"], "requestId": doc.get("requestId", "")}
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
        return
    lines = ["[ERROR] %s: %s" % (doc["errorType"], doc["errorMessage"])]
    if doc["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(frame.rstrip("\n") for frame in doc["stackTrace"])
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def to_json(value):
    def default(o):
        if type(o).__name__ == "Decimal":
            return int(o) if o == o.to_integral_value() else float(o)
        raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)

    return json.dumps(value, default=default).encode()


def await_function():
    """Waits, the interpreter started and the imports done, until this runtime is given its
    function: the platform attaches the code at /var/task and writes the function's whole
    environment to standard input as one JSON object, then closes it. Everything a runtime
    reads from its environment after start-up then reads the function's."""
    env = json.loads(sys.stdin.buffer.read())
    os.environ.clear()
    os.environ.update(env)
    # Standard input becomes /dev/null, as in a runtime started for its function.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # The working directory was the empty /var/task under the code's mount.
    os.chdir(env.get("LAMBDA_TASK_ROOT", "/var/task"))
    # The layers were attached at /opt with the code: what the import system learnt of /opt
    # while it was empty (PYTHONPATH names it from the start) is forgotten.
    for path in [p for p in sys.path_importer_cache if p.startswith("/opt")]:
        del sys.path_importer_cache[path]
    importlib.invalidate_caches()


def main():
    if os.environ.get("LAMINA_AWAIT_FUNCTION") == "stdin":
        await_function()
    # Line-buffered output: a print() reaches the log as it happens, not when a buffer fills.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    install_logging()

    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Exception as e:  # noqa: BLE001 - any failure of user init code is an init error
        doc = error_document(e)
        log_error(doc)
        client.init_error(doc)
        sys.exit(1)

    while True:
        headers, body = client.next()
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        RequestIdFilter.request_id = request_id
        trace_id = headers.get("Lambda-Runtime-Trace-Id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            try:
                event = json.loads(body) if body else {}
            except ValueError as e:
                raise FaultError("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)
            client_context = headers.get("Lambda-Runtime-Client-Context")
            identity = headers.get("Lambda-Runtime-Cognito-Identity")
            context = LambdaContext(
                request_id,
                int(headers.get("Lambda-Runtime-Deadline-Ms", "0")),
                headers.get("Lambda-Runtime-Invoked-Function-Arn"),
                json.loads(client_context) if client_context else None,
                json.loads(identity) if identity else None,
            )
            result = handler(event, context)
            try:
                payload = to_json(result)
            except (TypeError, ValueError) as e:
                raise FaultError("Runtime.MarshalError", "Unable to marshal response: %s" % e)
        except Exception as e:  # noqa: BLE001 - every handler failure is reported, not raised
            doc = error_document(e, request_id)
            log_error(doc)
            client.error(request_id, doc)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        client.response(request_id, payload)


if __name__ == "__main__":
    main()
