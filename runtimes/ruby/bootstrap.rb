# frozen_string_literal: true

# Lamina's bootstrap for the managed rubyX.Y runtimes.
#
# It does what Lambda's Ruby runtime does, with Ruby's standard library only: load the
# handler named by _HANDLER once per environment (`file.method`, or `file.Module::Class.method`
# for a class-level method), then loop on the Runtime API, calling the handler with the
# keyword arguments `event:` and `context:` and answering with its result as JSON. Errors
# take Lambda's Ruby shapes: `Function<ErrorClass>` for what the handler raises,
# `Init<ErrorClass>` for what loading it raises, with the message and the backtrace
# (`/var/task/app.rb:3:in 'handler'`) up to the runtime's own frames.
#
# This file is embedded in the lamina binary and written to the runtime directory at start.

require 'json'
require 'socket'

$stdout.sync = true
$stderr.sync = true

# The Runtime API over one kept-alive connection: /next is a long poll without a timeout.
class LaminaRuntimeApi
  PREFIX = '/2018-06-01/runtime'

  def initialize(address)
    @host, port = address.split(/:(?=\d+\z)/)
    @port = port.to_i
    @socket = nil
  end

  def next_invocation
    request('GET', '/invocation/next')
  end

  def post(path, body, headers = {})
    request('POST', path, body, headers)
  end

  private

  def request(method, path, body = nil, headers = {})
    attempt = 0
    begin
      attempt += 1
      exchange(method, path, body, headers)
    rescue IOError, SystemCallError, EOFError
      # A kept-alive connection the server closed between two requests: once more.
      @socket&.close rescue nil
      @socket = nil
      retry if attempt < 2
      raise
    end
  end

  def exchange(method, path, body, headers)
    @socket ||= TCPSocket.new(@host, @port).tap { |s| s.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1) }
    head = +"#{method} #{PREFIX}#{path} HTTP/1.1\r\nHost: #{@host}:#{@port}\r\n"
    headers.each { |k, v| head << "#{k}: #{v}\r\n" }
    head << "Content-Length: #{body.bytesize}\r\n" if body
    head << "\r\n"
    @socket.write(body ? head.b + body.b : head)
    status = @socket.gets("\r\n")
    raise EOFError, 'the Runtime API closed the connection' if status.nil?
    answer_headers = {}
    while (line = @socket.gets("\r\n")) && line != "\r\n"
      name, value = line.split(':', 2)
      answer_headers[name.strip.downcase] = value.to_s.strip
    end
    length = answer_headers['content-length'].to_i
    answer_body = length.positive? ? @socket.read(length) : +''
    [status.split(' ', 3)[1].to_i, answer_headers, answer_body.force_encoding('UTF-8')]
  end
end

# The context argument, with Lambda's Ruby attribute names.
class LaminaContext
  attr_reader :aws_request_id, :invoked_function_arn, :log_group_name, :log_stream_name,
              :function_name, :memory_limit_in_mb, :function_version, :identity,
              :client_context, :deadline_ms

  def initialize(headers)
    @deadline_ms = headers['lambda-runtime-deadline-ms'].to_i
    @aws_request_id = headers['lambda-runtime-aws-request-id']
    @invoked_function_arn = headers['lambda-runtime-invoked-function-arn']
    @log_group_name = ENV['AWS_LAMBDA_LOG_GROUP_NAME']
    @log_stream_name = ENV['AWS_LAMBDA_LOG_STREAM_NAME']
    @function_name = ENV['AWS_LAMBDA_FUNCTION_NAME']
    @memory_limit_in_mb = ENV['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']
    @function_version = ENV['AWS_LAMBDA_FUNCTION_VERSION']
    @identity = parse(headers['lambda-runtime-cognito-identity'])
    @client_context = parse(headers['lambda-runtime-client-context'])
  end

  def get_remaining_time_in_millis
    remaining = @deadline_ms - Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)
    remaining.positive? ? remaining : 0
  end

  private

  def parse(text)
    text && !text.empty? ? JSON.parse(text) : nil
  rescue JSON::ParserError
    nil
  end
end

module LaminaRuby
  RUNTIME_FILE = File.expand_path(__FILE__)

  module_function

  # The handler as a callable: `file.method`, or `file.Module::Class.method`.
  def load_handler(root, name)
    file, rest = name.to_s.split('.', 2)
    if file.to_s.empty? || rest.to_s.empty?
      raise ArgumentError, "Invalid handler #{name}, must be of form FILENAME.METHOD or " \
                           'FILENAME.CLASS.METHOD where FILENAME corresponds with an existing Ruby ' \
                           'source file FILENAME.rb, CLASS is an optional module/class namespace and ' \
                           'METHOD is a callable method. If using CLASS, METHOD must be a class-level method.'
    end
    $LOAD_PATH.unshift(root) unless $LOAD_PATH.include?(root)
    require File.join(root, file)
    if rest.include?('.')
      owner_name, method = rest.split(/\.(?=[^.]+\z)/)
      owner = Object.const_get(owner_name)
      ->(event, context) { owner.public_send(method, event: event, context: context) }
    else
      # A top-level method of the handler's file is a private method of Object. As in
      # Lambda, one that is missing fails each invocation (`Function<NoMethodError>`).
      ->(event, context) { send(rest, event: event, context: context) }
    end
  end

  def document(error, classification)
    {
      errorMessage: error.message,
      errorType: "#{classification}<#{error.class}>",
      stackTrace: trace(error)
    }
  end

  # The backtrace up to the first of the runtime's own frames.
  def trace(error)
    (error.backtrace || []).take_while { |line| !line.start_with?(RUNTIME_FILE) }.first(100)
  end

  def log_error(doc)
    $stdout.puts(JSON.generate(doc).gsub("\n", "\r"))
  end

  def post_error(api, path, doc)
    api.post(path, JSON.generate(doc),
             'Content-Type' => 'application/json',
             'Lambda-Runtime-Function-Error-Type' => doc[:errorType])
  end

  # Waits, the interpreter started and the runtime loaded, until this runtime is given its
  # function: the platform attaches the code at /var/task and writes the function's whole
  # environment to standard input as one JSON object, then closes it. The runtime then
  # becomes what one started for that function would be.
  def await_function
    env = JSON.parse($stdin.read)
    ENV.replace(env)
    # Standard input becomes /dev/null, as in a runtime started for its function.
    $stdin.reopen(File::NULL)
    # The working directory was the empty /var/task under the code's mount.
    Dir.chdir(env.fetch('LAMBDA_TASK_ROOT', '/var/task'))
    # What RubyGems learnt of the gem directories while they were empty is forgotten.
    Gem.clear_paths if defined?(Gem)
  end

  def main
    await_function if ENV['LAMINA_AWAIT_FUNCTION'] == 'stdin'
    api = LaminaRuntimeApi.new(ENV.fetch('AWS_LAMBDA_RUNTIME_API'))
    root = ENV['LAMBDA_TASK_ROOT'] || Dir.pwd
    begin
      handler = load_handler(root, ENV['_HANDLER'])
    rescue Exception => e # rubocop:disable Lint/RescueException: a load error is no StandardError
      doc = document(e, 'Init')
      log_error(doc)
      post_error(api, '/init/error', doc)
      exit!(1)
    end
    loop do
      status, headers, body = api.next_invocation
      exit!(0) unless status == 200
      request_id = headers['lambda-runtime-aws-request-id']
      if headers['lambda-runtime-trace-id']
        ENV['_X_AMZN_TRACE_ID'] = headers['lambda-runtime-trace-id']
      else
        ENV.delete('_X_AMZN_TRACE_ID')
      end
      begin
        event = body.empty? ? nil : JSON.parse(body)
        result = handler.call(event, LaminaContext.new(headers))
        payload = JSON.generate(result)
      rescue StandardError, ScriptError, SystemStackError, NoMemoryError => e
        doc = document(e, 'Function')
        log_error(doc)
        post_error(api, "/invocation/#{request_id}/error", doc)
        next
      end
      api.post("/invocation/#{request_id}/response", payload, 'Content-Type' => 'application/json')
    end
  end
end

LaminaRuby.main if $PROGRAM_NAME == __FILE__
