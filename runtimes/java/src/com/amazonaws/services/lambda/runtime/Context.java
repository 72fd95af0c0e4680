package com.amazonaws.services.lambda.runtime;

/**
 * What a handler knows of its invocation and its environment: Lambda's public
 * {@code Context}, with the same names and signatures, so that code compiled against
 * Lambda's library runs unchanged on Lamina.
 */
public interface Context {
    String getAwsRequestId();

    String getLogGroupName();

    String getLogStreamName();

    String getFunctionName();

    String getFunctionVersion();

    String getInvokedFunctionArn();

    CognitoIdentity getIdentity();

    ClientContext getClientContext();

    int getRemainingTimeInMillis();

    int getMemoryLimitInMB();

    LambdaLogger getLogger();

    /** The invocation's X-Ray trace header, or null. */
    default String getXrayTraceId() {
        return null;
    }

    /** The tenant the invocation runs for, or null. */
    default String getTenantId() {
        return null;
    }
}
