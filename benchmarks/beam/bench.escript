#!/usr/bin/env escript
%% -*- erlang -*-
%%! +S 1:1 +P 4000000 -noshell
%%
%% BEAM baseline for agentlab's benchmarks (reference figures to compare the
%% asyncio runtime against). One scheduler (+S 1:1, line 3): a Python event
%% loop uses one core, so this is the fair per-core baseline.
%%
%% Usage
%%   escript benchmarks/beam/bench.escript WORKLOAD N [KEY=VALUE ...]
%%
%%   WORKLOAD   N (suggested)   value / unit
%%   idle_memory        100000  bytes per idle process        (bytes/process)
%%   spawn             1000000  spawns per second             (spawns/s)
%%   send              1000000  messages per second           (msgs/s)
%%   ping_pong          200000  round trips per second        (round_trips/s)
%%   call               200000  gen_server:call round trips/s (calls/s)
%%   restart_latency      1000  median crash->restarted init  (us)
%%   restart_throughput  20000  restarts per second           (restarts/s)
%%
%%   Options (restart_* only):
%%     intensity=I   supervisor intensity (default 10*N + 10)
%%     period=P      supervisor period in seconds (default 5)
%%
%% Output: exactly one JSON object on stdout, e.g.
%%   {"system": "beam", "workload": "ping_pong", "n": 200000,
%%    "value": 2600000.0, "unit": "round_trips/s", "extra": {...}}
%% Exit code 0 on success, 2 on bad usage.
%%
%% Workload definitions (see /work/shared/perf/RESULTS.md):
%% - idle_memory: spawn N processes blocked in `receive`; value =
%%   delta of erlang:memory(processes) / N (after GC of the spawning process;
%%   the spawner keeps no pid list). extra.process_info_memory is
%%   process_info(P, memory) of one idle process.
%% - spawn: spawn N processes and wait until the last one is waiting in
%%   `receive` (with one scheduler the run queue is FIFO, so every earlier one
%%   is waiting too; this is checked after the clock stops). extra has
%%   total seconds and the memory growth (erlang:memory total / processes).
%% - send: one sender sends N messages to a receiver that counts them; the
%%   clock stops when the receiver reports that it has counted all N.
%% - ping_pong: two processes exchange ping/pong N times.
%% - call: the benchmark process makes N gen_server:call/2 to a gen_server
%%   that replies at once.
%% - restart_latency: a real `supervisor` (one_for_one) with one gen_server
%%   worker (not trapping exits). Each round: t0, exit(Pid, boom), and the
%%   restarted worker's init/1 stamps t1 and sends it here. Latency = t1 - t0.
%%   value = median in us; extra has p99, mean, min, max. The logger's
%%   primary level is set to none, so the supervisor's crash reports cost a
%%   level check only (no formatting or I/O).
%% - restart_throughput: the same loop, N rounds back to back; value =
%%   N / elapsed seconds. Note: OTP 25's supervisor keeps one list entry per
%%   restart inside the period and scans that list on every restart
%%   (supervisor:add_restart/3 uses lists:takewhile + length), so the cost per
%%   restart grows with the number of restarts in the window. With the default
%%   period of 5 s, N=20000 is about 10x slower per restart than N=2000 (the
%%   list reaches 20000 entries). Pass period=P to change the window.
-module(bench).
-mode(compile).

-export([main/1]).
-export([idle/0, counter/2, ponger/0, start_worker/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

main([Workload, NStr | Opts]) ->
    {N, Kv} = try {list_to_integer(NStr), [parse_opt(O) || O <- Opts]}
              catch _:_ -> usage()
              end,
    W = list_to_atom(Workload),
    {Value, Unit, Extra} = run(W, N, Kv),
    Obj = [{system, <<"beam">>}, {workload, list_to_binary(Workload)},
           {n, N}, {value, float(Value)}, {unit, list_to_binary(Unit)},
           {extra, Extra ++ common_extra()}],
    io:put_chars([json(Obj), $\n]),
    halt(0);
main(_) ->
    usage().

usage() ->
    io:format(standard_error,
              "usage: escript bench.escript WORKLOAD N [KEY=VALUE ...]~n"
              "workloads: idle_memory spawn send ping_pong call "
              "restart_latency restart_throughput~n", []),
    halt(2).

parse_opt(O) ->
    [K, V] = string:split(O, "="),
    {list_to_atom(K), list_to_integer(V)}.

common_extra() ->
    [{otp_release, list_to_binary(erlang:system_info(otp_release))},
     {erts_version, list_to_binary(erlang:system_info(version))},
     {schedulers_online, erlang:system_info(schedulers_online)}].

now_ns() -> erlang:monotonic_time(nanosecond).

secs(Ns) -> Ns / 1.0e9.

%%====================================================================
%% Workloads
%%====================================================================

run(idle_memory, N, _) ->
    garbage_collect(),
    M0 = erlang:memory(processes),
    Last = spawn_n(N, undefined),
    wait_waiting(Last),
    garbage_collect(),
    M1 = erlang:memory(processes),
    {memory, PI} = process_info(Last, memory),
    check_all_idle(N),
    {(M1 - M0) / N, "bytes/process",
     [{process_info_memory, PI},
      {processes_memory_delta_bytes, M1 - M0}]};

run(spawn, N, _) ->
    garbage_collect(),
    T0m = erlang:memory(total),
    P0m = erlang:memory(processes),
    T0 = now_ns(),
    Last = spawn_n(N, undefined),
    wait_waiting(Last),
    T1 = now_ns(),
    T1m = erlang:memory(total),
    P1m = erlang:memory(processes),
    check_all_idle(N),
    S = secs(T1 - T0),
    {N / S, "spawns/s",
     [{total_seconds, S},
      {total_memory_bytes, T1m - T0m},
      {processes_memory_bytes, P1m - P0m}]};

run(send, N, _) ->
    Self = self(),
    Recv = spawn(?MODULE, counter, [N, Self]),
    wait_waiting(Recv),
    T0 = now_ns(),
    send_n(Recv, N),
    receive {counted, Recv} -> ok end,
    T1 = now_ns(),
    S = secs(T1 - T0),
    {N / S, "msgs/s", [{total_seconds, S}]};

run(ping_pong, N, _) ->
    Pong = spawn(?MODULE, ponger, []),
    wait_waiting(Pong),
    T0 = now_ns(),
    ping_n(Pong, N),
    T1 = now_ns(),
    exit(Pong, kill),
    S = secs(T1 - T0),
    {N / S, "round_trips/s", [{total_seconds, S}]};

run(call, N, _) ->
    {ok, Srv} = gen_server:start(?MODULE, server, []),
    T0 = now_ns(),
    call_n(Srv, N),
    T1 = now_ns(),
    S = secs(T1 - T0),
    {N / S, "calls/s", [{total_seconds, S}]};

run(restart_latency, N, Kv) ->
    {Lat, _Elapsed, Sup} = restart_loop(N, Kv),
    Sorted = lists:sort(Lat),
    Us = fun(Ns) -> Ns / 1000.0 end,
    Median = Us(percentile(Sorted, 50)),
    {Median, "us",
     [{median_us, Median},
      {p99_us, Us(percentile(Sorted, 99))},
      {mean_us, Us(lists:sum(Sorted) / N)},
      {min_us, Us(hd(Sorted))},
      {max_us, Us(lists:last(Sorted))}] ++ sup_extra(Sup, Kv, N)};

run(restart_throughput, N, Kv) ->
    {_Lat, Elapsed, Sup} = restart_loop(N, Kv),
    S = secs(Elapsed),
    {N / S, "restarts/s", [{total_seconds, S}] ++ sup_extra(Sup, Kv, N)};

run(Other, _, _) ->
    io:format(standard_error, "unknown workload ~p~n", [Other]),
    halt(2).

%%--------------------------------------------------------------------
%% spawn / idle

idle() ->
    receive stop -> ok end.

spawn_n(0, Last) -> Last;
spawn_n(N, _) -> spawn_n(N - 1, spawn(?MODULE, idle, [])).

%% Wait (yielding the scheduler) until Pid is blocked in receive.
wait_waiting(Pid) ->
    case process_info(Pid, status) of
        {status, waiting} -> ok;
        _ -> erlang:yield(), wait_waiting(Pid)
    end.

%% After the clock stopped: all N spawned processes must be waiting in idle/0.
check_all_idle(N) ->
    Idle = length([P || P <- processes(),
                        process_info(P, [current_function, status]) =:=
                            [{current_function, {?MODULE, idle, 0}},
                             {status, waiting}]]),
    case Idle >= N of
        true -> ok;
        false -> error({not_all_idle, Idle, N})
    end.

%%--------------------------------------------------------------------
%% send

counter(N, Parent) -> count(N, Parent).

count(0, Parent) -> Parent ! {counted, self()};
count(N, Parent) -> receive _ -> count(N - 1, Parent) end.

send_n(_, 0) -> ok;
send_n(P, N) -> P ! msg, send_n(P, N - 1).

%%--------------------------------------------------------------------
%% ping_pong

ponger() ->
    receive {ping, From} -> From ! pong, ponger() end.

ping_n(_, 0) -> ok;
ping_n(P, N) ->
    P ! {ping, self()},
    receive pong -> ping_n(P, N - 1) end.

%%--------------------------------------------------------------------
%% call (gen_server callbacks shared with the restart worker)

call_n(_, 0) -> ok;
call_n(S, N) -> pong = gen_server:call(S, ping), call_n(S, N - 1).

init(server) ->
    {ok, server};
init({worker, Bench}) ->
    Bench ! {started, self(), now_ns()},
    {ok, worker};
init({sup, Bench, I, P}) ->
    {ok, {#{strategy => one_for_one, intensity => I, period => P},
          [#{id => w, start => {?MODULE, start_worker, [Bench]},
             restart => permanent, shutdown => brutal_kill}]}}.

handle_call(ping, _From, S) -> {reply, pong, S}.
handle_cast(_, S) -> {noreply, S}.
handle_info(_, S) -> {noreply, S}.

%%--------------------------------------------------------------------
%% restart

start_worker(Bench) ->
    gen_server:start_link(?MODULE, {worker, Bench}, []).

restart_loop(N, Kv) ->
    ok = logger:set_primary_config(level, none),
    I = proplists:get_value(intensity, Kv, 10 * N + 10),
    P = proplists:get_value(period, Kv, 5),
    Self = self(),
    {ok, Sup} = supervisor:start_link(?MODULE, {sup, Self, I, P}),
    W0 = receive {started, W, _} -> W end,
    T0 = now_ns(),
    {Lat, _} = crash_n(N, W0, []),
    T1 = now_ns(),
    {Lat, T1 - T0, Sup}.

crash_n(0, W, Acc) -> {Acc, W};
crash_n(N, W, Acc) ->
    T0 = now_ns(),
    exit(W, boom),
    receive
        {started, W1, T1} when W1 =/= W ->
            crash_n(N - 1, W1, [T1 - T0 | Acc])
    after 10000 ->
            error(restart_timeout)
    end.

sup_extra(Sup, Kv, N) ->
    [{intensity, proplists:get_value(intensity, Kv, 10 * N + 10)},
     {period, proplists:get_value(period, Kv, 5)},
     {supervisor_alive, is_process_alive(Sup)}].

%% Nearest-rank percentile of a sorted list.
percentile(Sorted, Pct) ->
    Len = length(Sorted),
    K = max(1, min(Len, ceil(Pct / 100 * Len))),
    lists:nth(K, Sorted).

%%====================================================================
%% Minimal JSON encoder: proplists -> objects, binaries -> strings,
%% atoms true/false -> booleans, other atoms -> strings.
%%====================================================================

json(L) when is_list(L) ->
    ["{", lists:join(", ", [[json_str(atom_to_binary(K)), ": ", json(V)]
                            || {K, V} <- L]), "}"];
json(true) -> "true";
json(false) -> "false";
json(A) when is_atom(A) -> json_str(atom_to_binary(A));
json(B) when is_binary(B) -> json_str(B);
json(I) when is_integer(I) -> integer_to_list(I);
json(F) when is_float(F) -> float_to_list(F, [short]).

json_str(B) ->
    [$", [esc(C) || <<C>> <= B], $"].

esc($") -> "\\\"";
esc($\\) -> "\\\\";
esc(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) -> C.
