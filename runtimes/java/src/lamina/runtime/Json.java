package lamina.runtime;

import java.lang.reflect.Array;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.WildcardType;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * JSON for handlers' events and results, with the JDK alone: parsing to maps, lists,
 * strings, numbers and booleans; binding those to a handler's declared type (POJOs through
 * setters or public fields, matched without regard to case and ignoring unknown
 * properties, as Lambda's serializer is configured); and writing any of them back,
 * POJOs through their getters.
 */
final class Json {
    private Json() {}

    /** Why a document could not be read or bound. */
    static final class JsonException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        JsonException(String message) {
            super(message);
        }
    }

    // ---- parsing

    static Object parse(String text) {
        Parser p = new Parser(text);
        p.space();
        Object value = p.value(0);
        p.space();
        if (p.at < text.length()) {
            throw p.fail("unexpected trailing content");
        }
        return value;
    }

    private static final class Parser {
        private final String s;
        private int at;

        Parser(String s) {
            this.s = s;
        }

        JsonException fail(String why) {
            return new JsonException(why + " at character " + at);
        }

        void space() {
            while (at < s.length()) {
                char c = s.charAt(at);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                at++;
            }
        }

        Object value(int depth) {
            if (depth > 512) {
                throw fail("nesting too deep");
            }
            if (at >= s.length()) {
                throw fail("unexpected end of input");
            }
            char c = s.charAt(at);
            switch (c) {
                case '{':
                    return object(depth);
                case '[':
                    return array(depth);
                case '"':
                    return string();
                case 't':
                    return word("true", Boolean.TRUE);
                case 'f':
                    return word("false", Boolean.FALSE);
                case 'n':
                    return word("null", null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw fail("unexpected character '" + c + "'");
            }
        }

        Object word(String w, Object v) {
            if (!s.startsWith(w, at)) {
                throw fail("unexpected token");
            }
            at += w.length();
            return v;
        }

        Map<String, Object> object(int depth) {
            Map<String, Object> out = new LinkedHashMap<>();
            at++;
            space();
            if (at < s.length() && s.charAt(at) == '}') {
                at++;
                return out;
            }
            while (true) {
                space();
                if (at >= s.length() || s.charAt(at) != '"') {
                    throw fail("expected a property name");
                }
                String key = string();
                space();
                expect(':');
                space();
                out.put(key, value(depth + 1));
                space();
                if (at < s.length() && s.charAt(at) == ',') {
                    at++;
                    continue;
                }
                expect('}');
                return out;
            }
        }

        List<Object> array(int depth) {
            List<Object> out = new ArrayList<>();
            at++;
            space();
            if (at < s.length() && s.charAt(at) == ']') {
                at++;
                return out;
            }
            while (true) {
                space();
                out.add(value(depth + 1));
                space();
                if (at < s.length() && s.charAt(at) == ',') {
                    at++;
                    continue;
                }
                expect(']');
                return out;
            }
        }

        void expect(char c) {
            if (at >= s.length() || s.charAt(at) != c) {
                throw fail("expected '" + c + "'");
            }
            at++;
        }

        String string() {
            at++;
            StringBuilder b = null;
            int start = at;
            while (true) {
                if (at >= s.length()) {
                    throw fail("unterminated string");
                }
                char c = s.charAt(at);
                if (c == '"') {
                    String tail = s.substring(start, at++);
                    return b == null ? tail : b.append(tail).toString();
                }
                if (c == '\\') {
                    if (b == null) {
                        b = new StringBuilder();
                    }
                    b.append(s, start, at);
                    at++;
                    if (at >= s.length()) {
                        throw fail("unterminated escape");
                    }
                    char e = s.charAt(at++);
                    switch (e) {
                        case '"': b.append('"'); break;
                        case '\\': b.append('\\'); break;
                        case '/': b.append('/'); break;
                        case 'b': b.append('\b'); break;
                        case 'f': b.append('\f'); break;
                        case 'n': b.append('\n'); break;
                        case 'r': b.append('\r'); break;
                        case 't': b.append('\t'); break;
                        case 'u':
                            if (at + 4 > s.length()) {
                                throw fail("bad unicode escape");
                            }
                            try {
                                b.append((char) Integer.parseInt(s.substring(at, at + 4), 16));
                            } catch (NumberFormatException x) {
                                throw fail("bad unicode escape");
                            }
                            at += 4;
                            break;
                        default:
                            throw fail("bad escape");
                    }
                    start = at;
                    continue;
                }
                if (c < 0x20) {
                    throw fail("control character in string");
                }
                at++;
            }
        }

        Number number() {
            int start = at;
            if (s.charAt(at) == '-') {
                at++;
            }
            boolean fraction = false;
            while (at < s.length()) {
                char c = s.charAt(at);
                if (c >= '0' && c <= '9') {
                    at++;
                } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                    fraction = true;
                    at++;
                } else {
                    break;
                }
            }
            String n = s.substring(start, at);
            try {
                if (fraction) {
                    return Double.parseDouble(n);
                }
                if (n.length() < 19) {
                    long v = Long.parseLong(n);
                    return v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE ? (Number) (int) v : (Number) v;
                }
                return new BigInteger(n);
            } catch (NumberFormatException x) {
                throw fail("bad number " + n);
            }
        }
    }

    // ---- writing

    static String write(Object value) {
        StringBuilder b = new StringBuilder();
        write(b, value, 0);
        return b.toString();
    }

    private static void write(StringBuilder b, Object v, int depth) {
        if (depth > 256) {
            throw new JsonException("the value is nested too deep (a cycle?)");
        }
        if (v == null) {
            b.append("null");
        } else if (v instanceof CharSequence || v instanceof Character || v instanceof Enum) {
            quote(b, v instanceof Enum ? ((Enum<?>) v).name() : v.toString());
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                quote(b, Double.toString(d));
            } else if (d == Math.rint(d) && Math.abs(d) < 1e15) {
                b.append((long) d).append(".0");
            } else {
                b.append(d);
            }
        } else if (v instanceof Number || v instanceof Boolean) {
            b.append(v);
        } else if (v instanceof Date) {
            b.append(((Date) v).getTime());
        } else if (v instanceof Map) {
            b.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                quote(b, String.valueOf(e.getKey()));
                b.append(':');
                write(b, e.getValue(), depth + 1);
            }
            b.append('}');
        } else if (v instanceof Iterable) {
            b.append('[');
            boolean first = true;
            for (Object item : (Iterable<?>) v) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                write(b, item, depth + 1);
            }
            b.append(']');
        } else if (v.getClass().isArray()) {
            if (v instanceof byte[]) {
                quote(b, java.util.Base64.getEncoder().encodeToString((byte[]) v));
                return;
            }
            b.append('[');
            for (int i = 0; i < Array.getLength(v); i++) {
                if (i > 0) {
                    b.append(',');
                }
                write(b, Array.get(v, i), depth + 1);
            }
            b.append(']');
        } else if (v.getClass().getName().startsWith("java.")) {
            quote(b, v.toString());
        } else {
            write(b, properties(v), depth + 1);
        }
    }

    /** A POJO's readable properties: public getters, then public fields. */
    private static Map<String, Object> properties(Object v) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Method m : v.getClass().getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) || m.getParameterCount() != 0
                    || m.getDeclaringClass() == Object.class) {
                continue;
            }
            String name = m.getName();
            String prop = null;
            if (name.startsWith("get") && name.length() > 3 && m.getReturnType() != void.class) {
                prop = name.substring(3);
            } else if (name.startsWith("is") && name.length() > 2
                    && (m.getReturnType() == boolean.class || m.getReturnType() == Boolean.class)) {
                prop = name.substring(2);
            }
            if (prop == null) {
                continue;
            }
            try {
                m.setAccessible(true);
                out.put(decapitalize(prop), m.invoke(v));
            } catch (ReflectiveOperationException | RuntimeException e) {
                throw new JsonException("cannot read property " + prop + " of " + v.getClass().getName() + ": " + e);
            }
        }
        for (Field f : v.getClass().getFields()) {
            if (!Modifier.isStatic(f.getModifiers()) && !out.containsKey(f.getName())) {
                try {
                    out.put(f.getName(), f.get(v));
                } catch (IllegalAccessException e) {
                    throw new JsonException("cannot read field " + f.getName());
                }
            }
        }
        return out;
    }

    private static String decapitalize(String s) {
        if (s.length() > 1 && Character.isUpperCase(s.charAt(1)) && Character.isUpperCase(s.charAt(0))) {
            return s;
        }
        return Character.toLowerCase(s.charAt(0)) + s.substring(1);
    }

    static void quote(StringBuilder b, String s) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': b.append("\\\""); break;
                case '\\': b.append("\\\\"); break;
                case '\n': b.append("\\n"); break;
                case '\r': b.append("\\r"); break;
                case '\t': b.append("\\t"); break;
                case '\b': b.append("\\b"); break;
                case '\f': b.append("\\f"); break;
                default:
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
            }
        }
        b.append('"');
    }

    // ---- binding

    /** {@code value} (parsed) as an instance of {@code type}. */
    static Object bind(Object value, Type type) {
        if (type instanceof WildcardType) {
            Type[] upper = ((WildcardType) type).getUpperBounds();
            return bind(value, upper.length > 0 ? upper[0] : Object.class);
        }
        if (type instanceof GenericArrayType) {
            return bindArray(value, ((GenericArrayType) type).getGenericComponentType());
        }
        Class<?> raw = rawClass(type);
        if (raw == Object.class) {
            return value;
        }
        if (value == null) {
            if (raw.isPrimitive()) {
                throw new JsonException("null cannot be " + raw.getName());
            }
            return null;
        }
        if (raw == String.class) {
            if (value instanceof String) {
                return value;
            }
            if (value instanceof Number || value instanceof Boolean) {
                return value.toString();
            }
            throw new JsonException("cannot make a java.lang.String of a JSON " + kind(value));
        }
        if (raw.isPrimitive() || Number.class.isAssignableFrom(raw) || raw == Boolean.class || raw == Character.class) {
            return scalar(value, raw);
        }
        if (raw.isEnum()) {
            for (Object constant : raw.getEnumConstants()) {
                if (((Enum<?>) constant).name().equals(value)) {
                    return constant;
                }
            }
            throw new JsonException("no " + raw.getName() + " named " + value);
        }
        if (raw.isArray()) {
            return bindArray(value, raw.getComponentType());
        }
        if (Map.class.isAssignableFrom(raw)) {
            if (!(value instanceof Map)) {
                throw new JsonException("cannot make a map of a JSON " + kind(value));
            }
            Type valueType = typeArgument(type, 1);
            Map<Object, Object> out = raw == TreeMap.class ? new TreeMap<>()
                    : raw == HashMap.class ? new HashMap<>() : new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
                out.put(e.getKey(), bind(e.getValue(), valueType));
            }
            return out;
        }
        if (Collection.class.isAssignableFrom(raw)) {
            if (!(value instanceof List)) {
                throw new JsonException("cannot make a collection of a JSON " + kind(value));
            }
            Type itemType = typeArgument(type, 0);
            Collection<Object> out = Set.class.isAssignableFrom(raw)
                    ? (raw == HashSet.class ? new HashSet<>() : new LinkedHashSet<>())
                    : new ArrayList<>();
            for (Object item : (List<?>) value) {
                out.add(bind(item, itemType));
            }
            return out;
        }
        if (raw == Date.class && value instanceof Number) {
            return new Date(((Number) value).longValue());
        }
        if (!(value instanceof Map)) {
            throw new JsonException("cannot make a " + raw.getName() + " of a JSON " + kind(value));
        }
        return bindObject((Map<?, ?>) value, raw);
    }

    private static Object bindArray(Object value, Type component) {
        if (!(value instanceof List)) {
            throw new JsonException("cannot make an array of a JSON " + kind(value));
        }
        List<?> items = (List<?>) value;
        Object out = Array.newInstance(rawClass(component), items.size());
        for (int i = 0; i < items.size(); i++) {
            Array.set(out, i, bind(items.get(i), component));
        }
        return out;
    }

    private static Object bindObject(Map<?, ?> value, Class<?> raw) {
        Object target;
        try {
            Constructor<?> c = raw.getDeclaredConstructor();
            c.setAccessible(true);
            target = c.newInstance();
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new JsonException("cannot construct " + raw.getName() + " (it needs a constructor without arguments)");
        }
        Map<String, Method> setters = new HashMap<>();
        for (Method m : raw.getMethods()) {
            if (m.getName().startsWith("set") && m.getName().length() > 3 && m.getParameterCount() == 1
                    && !Modifier.isStatic(m.getModifiers())) {
                setters.putIfAbsent(m.getName().substring(3).toLowerCase(Locale.ROOT), m);
            }
        }
        Map<String, Field> fields = new HashMap<>();
        for (Field f : raw.getFields()) {
            if (!Modifier.isStatic(f.getModifiers()) && !Modifier.isFinal(f.getModifiers())) {
                fields.putIfAbsent(f.getName().toLowerCase(Locale.ROOT), f);
            }
        }
        for (Map.Entry<?, ?> e : value.entrySet()) {
            String key = String.valueOf(e.getKey()).toLowerCase(Locale.ROOT);
            try {
                Method setter = setters.get(key);
                if (setter != null) {
                    setter.invoke(target, bind(e.getValue(), setter.getGenericParameterTypes()[0]));
                    continue;
                }
                Field field = fields.get(key);
                if (field != null) {
                    field.set(target, bind(e.getValue(), field.getGenericType()));
                }
            } catch (ReflectiveOperationException x) {
                throw new JsonException("cannot set " + e.getKey() + " of " + raw.getName() + ": " + x);
            }
        }
        return target;
    }

    private static Object scalar(Object value, Class<?> raw) {
        if (raw == boolean.class || raw == Boolean.class) {
            if (value instanceof Boolean) {
                return value;
            }
            throw new JsonException("cannot make a boolean of a JSON " + kind(value));
        }
        if (raw == char.class || raw == Character.class) {
            if (value instanceof String && ((String) value).length() == 1) {
                return ((String) value).charAt(0);
            }
            throw new JsonException("cannot make a char of a JSON " + kind(value));
        }
        Number n;
        if (value instanceof Number) {
            n = (Number) value;
        } else if (value instanceof String) {
            try {
                n = new BigDecimal(((String) value).trim());
            } catch (NumberFormatException e) {
                throw new JsonException("Can not construct instance of " + boxed(raw).getName()
                        + " from String value '" + value + "': not a valid " + boxed(raw).getSimpleName() + " value");
            }
        } else {
            throw new JsonException("cannot make a number of a JSON " + kind(value));
        }
        Class<?> b = boxed(raw);
        if (b == Integer.class) {
            return n.intValue();
        } else if (b == Long.class) {
            return n.longValue();
        } else if (b == Double.class) {
            return n.doubleValue();
        } else if (b == Float.class) {
            return n.floatValue();
        } else if (b == Short.class) {
            return n.shortValue();
        } else if (b == Byte.class) {
            return n.byteValue();
        } else if (b == BigDecimal.class) {
            return n instanceof BigDecimal ? n : new BigDecimal(n.toString());
        } else if (b == BigInteger.class) {
            return n instanceof BigInteger ? n : new BigDecimal(n.toString()).toBigInteger();
        }
        return n;
    }

    private static Class<?> boxed(Class<?> c) {
        if (!c.isPrimitive()) {
            return c;
        }
        if (c == int.class) {
            return Integer.class;
        } else if (c == long.class) {
            return Long.class;
        } else if (c == double.class) {
            return Double.class;
        } else if (c == float.class) {
            return Float.class;
        } else if (c == short.class) {
            return Short.class;
        } else if (c == byte.class) {
            return Byte.class;
        } else if (c == boolean.class) {
            return Boolean.class;
        }
        return Character.class;
    }

    private static String kind(Object v) {
        if (v instanceof Map) {
            return "object";
        } else if (v instanceof List) {
            return "array";
        } else if (v instanceof String) {
            return "string";
        } else if (v instanceof Boolean) {
            return "boolean";
        }
        return "number";
    }

    static Class<?> rawClass(Type type) {
        if (type instanceof Class) {
            return (Class<?>) type;
        }
        if (type instanceof ParameterizedType) {
            return rawClass(((ParameterizedType) type).getRawType());
        }
        if (type instanceof GenericArrayType) {
            return Array.newInstance(rawClass(((GenericArrayType) type).getGenericComponentType()), 0).getClass();
        }
        return Object.class;
    }

    private static Type typeArgument(Type type, int index) {
        if (type instanceof ParameterizedType) {
            Type[] args = ((ParameterizedType) type).getActualTypeArguments();
            if (index < args.length) {
                return args[index];
            }
        }
        return Object.class;
    }
}
