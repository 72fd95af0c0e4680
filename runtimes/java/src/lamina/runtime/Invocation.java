package lamina.runtime;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** One invocation's {@code Context}, from the headers of {@code /invocation/next}. */
final class Invocation implements Context {
    private static final String FUNCTION_NAME = System.getenv("AWS_LAMBDA_FUNCTION_NAME");
    private static final String FUNCTION_VERSION = System.getenv("AWS_LAMBDA_FUNCTION_VERSION");
    private static final String LOG_GROUP = System.getenv("AWS_LAMBDA_LOG_GROUP_NAME");
    private static final String LOG_STREAM = System.getenv("AWS_LAMBDA_LOG_STREAM_NAME");

    private final String requestId;
    private final long deadlineMs;
    private final String arn;
    private final String traceId;
    private final CognitoIdentity identity;
    private final ClientContext clientContext;
    private final LambdaLogger logger;

    Invocation(RuntimeApi.Response next, LambdaLogger logger) {
        this.requestId = next.header("lambda-runtime-aws-request-id");
        long deadline;
        try {
            deadline = Long.parseLong(next.header("lambda-runtime-deadline-ms"));
        } catch (RuntimeException e) {
            deadline = System.currentTimeMillis() + 3000;
        }
        this.deadlineMs = deadline;
        this.arn = next.header("lambda-runtime-invoked-function-arn");
        this.traceId = next.header("lambda-runtime-trace-id");
        this.identity = identity(next.header("lambda-runtime-cognito-identity"));
        this.clientContext = clientContext(next.header("lambda-runtime-client-context"));
        this.logger = logger;
    }

    @Override
    public String getAwsRequestId() {
        return requestId;
    }

    @Override
    public String getLogGroupName() {
        return LOG_GROUP;
    }

    @Override
    public String getLogStreamName() {
        return LOG_STREAM;
    }

    @Override
    public String getFunctionName() {
        return FUNCTION_NAME;
    }

    @Override
    public String getFunctionVersion() {
        return FUNCTION_VERSION;
    }

    @Override
    public String getInvokedFunctionArn() {
        return arn;
    }

    @Override
    public CognitoIdentity getIdentity() {
        return identity;
    }

    @Override
    public ClientContext getClientContext() {
        return clientContext;
    }

    @Override
    public int getRemainingTimeInMillis() {
        return (int) Math.max(0, deadlineMs - System.currentTimeMillis());
    }

    @Override
    public int getMemoryLimitInMB() {
        try {
            return Integer.parseInt(System.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
        } catch (RuntimeException e) {
            return 128;
        }
    }

    @Override
    public LambdaLogger getLogger() {
        return logger;
    }

    @Override
    public String getXrayTraceId() {
        return traceId;
    }

    String traceId() {
        return traceId;
    }

    private static Map<?, ?> object(String json) {
        if (json == null || json.isEmpty()) {
            return null;
        }
        try {
            Object v = Json.parse(json);
            return v instanceof Map ? (Map<?, ?>) v : null;
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static String text(Map<?, ?> m, String key) {
        Object v = m == null ? null : m.get(key);
        return v == null ? null : v.toString();
    }

    private static CognitoIdentity identity(String header) {
        Map<?, ?> m = object(header);
        if (m == null) {
            return null;
        }
        String id = text(m, "cognitoIdentityId");
        String pool = text(m, "cognitoIdentityPoolId");
        return new CognitoIdentity() {
            @Override
            public String getIdentityId() {
                return id;
            }

            @Override
            public String getIdentityPoolId() {
                return pool;
            }
        };
    }

    private static ClientContext clientContext(String header) {
        if (header == null || header.isEmpty()) {
            return null;
        }
        Map<?, ?> m = object(header);
        if (m == null) {
            try {
                m = object(new String(Base64.getDecoder().decode(header), StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                return null;
            }
        }
        if (m == null) {
            return null;
        }
        Map<?, ?> client = m.get("client") instanceof Map ? (Map<?, ?>) m.get("client") : null;
        Map<String, String> custom = strings(m.get("custom"));
        Map<String, String> env = strings(m.get("env"));
        Client c = client == null ? null : new Client() {
            @Override
            public String getInstallationId() {
                return text(client, "installation_id");
            }

            @Override
            public String getAppTitle() {
                return text(client, "app_title");
            }

            @Override
            public String getAppVersionName() {
                return text(client, "app_version_name");
            }

            @Override
            public String getAppVersionCode() {
                return text(client, "app_version_code");
            }

            @Override
            public String getAppPackageName() {
                return text(client, "app_package_name");
            }
        };
        return new ClientContext() {
            @Override
            public Client getClient() {
                return c;
            }

            @Override
            public Map<String, String> getCustom() {
                return custom;
            }

            @Override
            public Map<String, String> getEnvironment() {
                return env;
            }
        };
    }

    private static Map<String, String> strings(Object v) {
        if (!(v instanceof Map)) {
            return Collections.emptyMap();
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            out.put(String.valueOf(e.getKey()), e.getValue() == null ? null : e.getValue().toString());
        }
        return out;
    }
}
