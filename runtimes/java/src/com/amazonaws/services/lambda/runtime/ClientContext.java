package com.amazonaws.services.lambda.runtime;

import java.util.Map;

/** The client context a caller sent (base64 JSON in {@code X-Amz-Client-Context}). */
public interface ClientContext {
    Client getClient();

    Map<String, String> getCustom();

    Map<String, String> getEnvironment();
}
