/*
 * The one thing Lamina's Java runtime cannot do in Java: become, once started ahead of time,
 * the process its function would have started. A JVM cannot change its working directory or
 * its environment, and it reads the environment into System.getenv() the first time anyone
 * asks; a runtime waiting for its function has not asked yet. So, given the function's
 * environment and task root, this replaces the process's environment, enters the task root
 * (the code was mounted over the directory the JVM started in) and gives standard input
 * /dev/null, as a runtime started for its function has.
 *
 * Built by crates/executor/build.rs into liblamina-await.so, embedded in Lamina's binary.
 */
#include <errno.h>
#include <fcntl.h>
#include <jni.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A NUL-terminated copy of a Java byte array, or NULL. */
static char *copy(JNIEnv *env, jbyteArray bytes) {
    jsize len = (*env)->GetArrayLength(env, bytes);
    char *out = malloc((size_t)len + 1);
    if (out == NULL) {
        return NULL;
    }
    (*env)->GetByteArrayRegion(env, bytes, 0, len, (jbyte *)out);
    out[len] = '\0';
    return out;
}

/*
 * lamina.runtime.Await.adopt(byte[] variables, byte[] dir): variables is "KEY=VALUE\0..."
 * (each entry NUL-terminated). Returns 0, or the errno of what failed.
 */
JNIEXPORT jint JNICALL Java_lamina_runtime_Await_adopt(JNIEnv *env, jclass cls, jbyteArray variables,
                                                     jbyteArray dir) {
    (void)cls;
    char *block = copy(env, variables);
    char *path = copy(env, dir);
    if (block == NULL || path == NULL) {
        free(block);
        free(path);
        return ENOMEM;
    }
    jsize len = (*env)->GetArrayLength(env, variables);
    int failed = 0;
    if (clearenv() != 0) {
        failed = errno ? errno : EINVAL;
    }
    for (char *entry = block; !failed && entry < block + len; entry += strlen(entry) + 1) {
        char *eq = strchr(entry, '=');
        if (eq == NULL || eq == entry) {
            continue;
        }
        *eq = '\0';
        if (setenv(entry, eq + 1, 1) != 0) {
            failed = errno;
        }
    }
    if (!failed && chdir(path) != 0) {
        failed = errno;
    }
    if (!failed) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0) {
            failed = errno;
        }
        if (null > 0) {
            close(null);
        }
    }
    /* setenv copied what it kept: the block goes. */
    free(block);
    free(path);
    return failed;
}
