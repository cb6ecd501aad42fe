#!/usr/bin/env escript
%% -*- erlang -*-
%%! +S 1:1 -noshell
%%
%% Differential-reference runner: executes one JSON supervision scenario
%% against the real OTP `supervisor` (and, for strategy "dynamic", Elixir's
%% DynamicSupervisor loaded from the local Elixir install) and prints a
%% normalized event log on stdout, one event per line.
%%
%% Usage:  escript run_scenario.escript scenarios/NAME.json
%%
%% This is a copy of /work/shared/otp/run_scenario.escript extended with
%% the steps sleep_until_ms, suspend and resume (tests/conformance/scenarios/README.md);
%% on scenarios without them it prints exactly what the original prints.
%%
%% The emulator runs with a single scheduler (+S 1:1, see line 3) so that the
%% interleaving of messages arriving at the event collector is reproducible.
%% See README.md for the scenario language and the event vocabulary.
-module(run_scenario).
-mode(compile).

-export([main/1]).
%% gen_server (worker), supervisor and DynamicSupervisor callbacks
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).
%% start functions used in child specs
-export([start_worker/1, start_worker/2, start_sup/1]).
%% logger handler callback (captures supervisor reports)
-export([log/2]).

-define(COLLECTOR, scn_collector).
-define(ATTEMPTS, scn_attempts).

%%====================================================================
%% Entry point
%%====================================================================

main([File]) ->
    try run(File) of
        ok -> halt(0)
    catch C:R:St ->
        io:format(standard_error, "runner failure: ~p:~p~n~p~n", [C, R, St]),
        halt(3)
    end;
main(_) ->
    io:format(standard_error,
              "usage: escript run_scenario.escript SCENARIO.json~n", []),
    halt(2).

run(File) ->
    {ok, Bin} = file:read_file(File),
    Scn = json_decode(Bin),
    process_flag(trap_exit, true),
    Root = maps:get(supervisor, Scn),
    uses_dynamic(Root) andalso ensure_elixir(),
    setup_logger(),
    ?ATTEMPTS = ets:new(?ATTEMPTS, [named_table, public, set]),
    Coll = spawn(fun collector_init/0),
    true = register(?COLLECTOR, Coll),
    RootCfg = maps:put(id, maps:get(id, Root, <<"root">>), Root),
    RootId = get_id(RootCfg),
    put(root_id, RootId),
    announce(["start_link ", RootId]),
    Res = (catch start_sup(RootCfg)),
    settle(),
    result(["start_link ", RootId, " ", fmt(Res)]),
    lists:foreach(fun run_step/1, maps:get(steps, Scn, [])),
    Events = ccall(events),
    lists:foreach(fun(L) -> io:put_chars([L, $\n]) end, Events),
    ok.

%%====================================================================
%% Steps
%%====================================================================

run_step(Step) ->
    case maps:get(unordered, Step, false) of
        true ->
            %% Events produced by this step (after its "step" line) are an
            %% unordered set; they are printed sorted.
            N0 = ccall(count),
            do_step(Step),
            ccall({sort_from, N0 + 2});
        false ->
            do_step(Step)
    end.

do_step(#{crash := Id0} = S) ->
    stop_worker(crash, atom(Id0), reason(maps:get(reason, S, <<"boom">>)));
do_step(#{stop := Id0} = S) ->
    stop_worker(stop, atom(Id0), reason(maps:get(reason, S, <<"normal">>)));
do_step(#{kill := Id0}) ->
    Id = atom(Id0),
    announce(["kill ", Id]),
    with_pid(Id, fun(Pid) ->
                         Ref = monitor(process, Pid),
                         exit(Pid, kill),
                         wait_down(Ref)
                 end),
    settle();
do_step(#{exit_signal := Id0} = S) ->
    Id = atom(Id0),
    R = reason(maps:get(reason, S, <<"boom">>)),
    announce(["exit_signal ", Id, " ", fmt(R)]),
    %% Sent from a short-lived helper that is neither parent nor linked,
    %% so it is never mistaken for the supervisor's parent.
    with_pid(Id, fun(Pid) ->
                         {_, Ref} = spawn_monitor(fun() -> exit(Pid, R) end),
                         wait_down(Ref)
                 end),
    settle();
do_step(#{sleep_ms := Ms}) ->
    announce(["sleep_ms ", integer_to_list(Ms)]),
    timer:sleep(Ms),
    settle();
%% Steps added in this copy (see README.md beside it): sleep_until_ms,
%% suspend, resume.
do_step(#{sleep_until_ms := Ms}) when is_integer(Ms), Ms >= 0, Ms < 1000 ->
    %% Wait until the monotonic clock is Ms ms past a whole second, the
    %% second that erlang:monotonic_time(second) (the restart window's clock)
    %% floors to; the next such instant, or now if it is one.
    announce(["sleep_until_ms ", integer_to_list(Ms)]),
    Now = erlang:monotonic_time(millisecond),
    Frac = ((Now rem 1000) + 1000) rem 1000,
    timer:sleep((Ms - Frac + 1000) rem 1000),
    settle();
do_step(#{suspend := Sup0}) ->
    %% sys:suspend/2: the supervisor handles only system messages and an exit
    %% signal from its parent (which stops it) until resumed; exits of its
    %% children stay queued in its mailbox meanwhile.
    SupId = atom(Sup0),
    announce(["suspend ", SupId]),
    case ccall({sup, SupId}) of
        undefined -> result(["no_process ", SupId]);
        {Pid, _} ->
            ok = sys:suspend(Pid, infinity),
            put({suspended, SupId}, Pid)
    end,
    settle();
do_step(#{resume := Sup0}) ->
    SupId = atom(Sup0),
    announce(["resume ", SupId]),
    case ccall({sup, SupId}) of
        undefined -> result(["no_process ", SupId]);
        {Pid, _} ->
            ok = sys:resume(Pid, infinity),
            erase({suspended, SupId})
    end,
    settle();
do_step(#{stop_sup := Id0} = S) ->
    Id = atom(Id0),
    R = reason(maps:get(reason, S, <<"shutdown">>)),
    announce(["stop_sup ", Id, " ", fmt(R)]),
    case get(root_id) of
        Id -> ok;
        _ -> error({stop_sup_only_for_root, Id})
    end,
    %% The runner is the parent of the root supervisor, so an exit signal
    %% from it is treated by gen_server as an orderly stop request.
    with_pid(Id, fun(Pid) ->
                         Ref = monitor(process, Pid),
                         exit(Pid, R),
                         wait_down(Ref)
                 end),
    settle();
do_step(#{which_children := Sup0}) ->
    SupId = atom(Sup0),
    announce(["which_children ", SupId]),
    settle(),
    with_sup(SupId, fun(Pid, Kind) ->
        L = case Kind of
                dynamic -> 'Elixir.DynamicSupervisor':which_children(Pid);
                _ -> supervisor:which_children(Pid)
            end,
        Items = case Kind of
                    static ->
                        [[atom_to_list(I), "=", child_state(C)]
                         || {I, C, _, _} <- L];
                    _ ->
                        lists:sort([[dyn_child_name(C), "=", child_state(C)]
                                    || {_, C, _, _} <- L])
                end,
        result(["which_children ", SupId, " ",
                case Items of [] -> "(none)"; _ -> lists:join(" ", Items) end])
    end);
do_step(#{count_children := Sup0}) ->
    SupId = atom(Sup0),
    announce(["count_children ", SupId]),
    settle(),
    with_sup(SupId, fun(Pid, Kind) ->
        C = case Kind of
                dynamic ->
                    maps:to_list('Elixir.DynamicSupervisor':count_children(Pid));
                _ ->
                    supervisor:count_children(Pid)
            end,
        G = fun(K) -> integer_to_list(proplists:get_value(K, C)) end,
        result(["count_children ", SupId,
                " specs=", G(specs), " active=", G(active),
                " supervisors=", G(supervisors), " workers=", G(workers)])
    end);
do_step(#{start_child := #{sup := Sup0, child := C0}}) ->
    SupId = atom(Sup0),
    ChildId = get_id(C0),
    announce(["start_child ", SupId, " ", ChildId]),
    with_sup(SupId, fun(Pid, Kind) ->
        Res = case Kind of
                  static ->
                      catch supervisor:start_child(Pid, child_spec(C0));
                  simple ->
                      catch supervisor:start_child(Pid, [C0]);
                  dynamic ->
                      Tmpl = ccall({template, SupId}),
                      Spec = dyn_child_spec(maps:merge(Tmpl, C0)),
                      catch 'Elixir.DynamicSupervisor':start_child(Pid, Spec)
              end,
        settle(),
        result(["start_child ", SupId, " ", ChildId, " ", fmt(Res)])
    end);
do_step(#{terminate_child := #{sup := Sup0, id := Id0}}) ->
    SupId = atom(Sup0),
    Id = atom(Id0),
    announce(["terminate_child ", SupId, " ", Id]),
    with_sup(SupId, fun(Pid, Kind) ->
        Res = case Kind of
                  static ->
                      catch supervisor:terminate_child(Pid, Id);
                  simple ->
                      catch supervisor:terminate_child(Pid, lookup_or_dead(Id));
                  dynamic ->
                      catch 'Elixir.DynamicSupervisor':terminate_child(
                              Pid, lookup_or_dead(Id))
              end,
        settle(),
        result(["terminate_child ", SupId, " ", Id, " ", fmt(Res)])
    end);
do_step(#{restart_child := #{sup := Sup0, id := Id0}}) ->
    static_api(restart_child, atom(Sup0), atom(Id0));
do_step(#{delete_child := #{sup := Sup0, id := Id0}}) ->
    static_api(delete_child, atom(Sup0), atom(Id0));
do_step(Other) ->
    error({unknown_step, Other}).

static_api(Fun, SupId, Id) ->
    announce([atom_to_list(Fun), " ", SupId, " ", Id]),
    with_sup(SupId, fun(Pid, _Kind) ->
        Res = (catch supervisor:Fun(Pid, Id)),
        settle(),
        result([atom_to_list(Fun), " ", SupId, " ", Id, " ", fmt(Res)])
    end).

stop_worker(Verb, Id, R) ->
    announce([atom_to_list(Verb), " ", Id, " ", fmt(R)]),
    with_pid(Id, fun(Pid) ->
                         Ref = monitor(process, Pid),
                         gen_server:cast(Pid, {crash, R}),
                         wait_down(Ref)
                 end),
    settle().

with_pid(Id, Fun) ->
    case ccall({lookup, Id}) of
        undefined -> result(["no_process ", Id]);
        Pid -> Fun(Pid)
    end.

with_sup(SupId, Fun) ->
    case ccall({sup, SupId}) of
        undefined -> result(["no_process ", SupId]);
        {Pid, Kind} ->
            %% a call to a suspended supervisor would wait for ever
            get({suspended, SupId}) =:= Pid
                andalso error({api_call_to_suspended_supervisor, SupId}),
            Fun(Pid, Kind)
    end.

lookup_or_dead(Id) ->
    case ccall({lookup, Id}) of
        undefined -> ccall({last_pid, Id});
        Pid -> Pid
    end.

wait_down(Ref) ->
    receive {'DOWN', Ref, process, _, _} -> ok
    after 60000 -> error(wait_down_timeout)
    end.

child_state(P) when is_pid(P) -> "running";
child_state(restarting) -> "restarting";
child_state(undefined) -> "undefined".

dyn_child_name(P) when is_pid(P) -> atom_to_list(ccall({id_of, P}));
dyn_child_name(_) -> "?".

%% Wait until the supervision tree is quiescent: repeatedly make a
%% synchronous system call to every live supervisor (this drains whatever
%% is already in their mailboxes, including self-casts used for restart
%% retries) until the collector sees no new events for a full round.
settle() -> settle(0, -1).

settle(Round, _Prev) when Round > 1000 -> ok;
settle(Round, Prev) ->
    lists:foreach(fun(P) -> catch sys:get_state(P, infinity) end,
                  ccall(sup_pids)),
    N = ccall(count),
    case N =:= Prev andalso Round >= 2 of
        true -> ok;
        false -> settle(Round + 1, N)
    end.

%%====================================================================
%% Start functions and callbacks
%%====================================================================

start_sup(Cfg) ->
    case strategy(Cfg) of
        dynamic ->
            'Elixir.DynamicSupervisor':start_link(?MODULE, {dynsup, Cfg}, []);
        _ ->
            supervisor:start_link(?MODULE, {sup, Cfg})
    end.

start_worker(Cfg) ->
    gen_server:start_link(?MODULE, {worker, Cfg}, []).

%% simple_one_for_one: template config + per-child extra config
start_worker(Template, Extra) ->
    start_worker(maps:merge(Template, Extra)).

%% supervisor callback
init({sup, Cfg}) ->
    Id = get_id(Cfg),
    Strategy = strategy(Cfg),
    Kind = case Strategy of simple_one_for_one -> simple; _ -> static end,
    register_proc(Id, {sup, Kind, maps:get(child, Cfg, #{})}),
    Flags = maps:from_list(
              [{strategy, Strategy}] ++
              [{intensity, I} || #{intensity := I} <- [Cfg]] ++
              [{period, P} || #{period := P} <- [Cfg]] ++
              [{auto_shutdown, atom(A)} || #{auto_shutdown := A} <- [Cfg]]),
    Specs = case Kind of
                simple -> [template_spec(maps:get(child, Cfg))];
                static -> [child_spec(C) || C <- maps:get(children, Cfg, [])]
            end,
    {ok, {Flags, Specs}};
%% DynamicSupervisor callback (Elixir)
init({dynsup, Cfg}) ->
    Id = get_id(Cfg),
    register_proc(Id, {sup, dynamic, maps:get(child, Cfg, #{})}),
    Opts = [{strategy, one_for_one}] ++
        [{max_children, M} || #{max_children := M} <- [Cfg]] ++
        [{max_restarts, I} || #{intensity := I} <- [Cfg]] ++
        [{max_seconds, P} || #{period := P} <- [Cfg]],
    'Elixir.DynamicSupervisor':init(Opts);
%% gen_server worker callback
init({worker, Cfg}) ->
    Id = get_id(Cfg),
    N = ets:update_counter(?ATTEMPTS, Id, 1, {Id, 0}),
    case maps:get(trap_exit, Cfg, true) of
        true -> process_flag(trap_exit, true);
        false -> ok
    end,
    case init_action(Cfg, N) of
        ok ->
            register_proc(Id, worker),
            {ok, #{id => Id, cfg => Cfg}};
        ignore ->
            event(["init ", Id, " ignore"]),
            ignore;
        {error, R} ->
            event(["init ", Id, " error ", fmt(R)]),
            {stop, R}
    end.

handle_call(ping, _From, S) -> {reply, pong, S}.

handle_cast({crash, R}, S) -> {stop, R, S}.

%% Only reached for 'EXIT' messages from non-parent processes while
%% trapping exits (gen_server handles the parent's 'EXIT' itself).
handle_info({'EXIT', _From, R}, #{id := Id} = S) ->
    event(["info ", Id, " exit_signal ", fmt(R)]),
    {noreply, S};
handle_info(_Msg, S) ->
    {noreply, S}.

terminate(R, #{id := Id, cfg := Cfg}) ->
    event(["terminate ", Id, " ", fmt(R)]),
    case maps:get(terminate_ms, Cfg, 0) of
        0 -> ok;
        Ms -> timer:sleep(Ms)
    end,
    ok.

init_action(Cfg, N) ->
    A = case Cfg of
            #{init_seq := Seq} when Seq =/= [] ->
                lists:nth(min(N, length(Seq)), Seq);
            #{init := I} -> I;
            _ -> <<"ok">>
        end,
    case A of
        <<"ok">> -> ok;
        <<"ignore">> -> ignore;
        <<"error">> -> {error, init_failed};
        #{error := R} -> {error, reason(R)}
    end.

%%====================================================================
%% Child specs
%%====================================================================

child_spec(C) ->
    Id = get_id(C),
    Type = atom(maps:get(type, C, <<"worker">>)),
    Start = case Type of
                worker -> {?MODULE, start_worker, [C]};
                supervisor ->
                    {?MODULE, start_sup, [maps:put(id, maps:get(id, C),
                                                   maps:get(supervisor, C))]}
            end,
    common_spec(C, #{id => Id, start => Start, type => Type}).

template_spec(T) ->
    common_spec(T, #{id => undefined, start => {?MODULE, start_worker, [T]},
                     type => worker}).

dyn_child_spec(C) ->
    common_spec(C, #{id => get_id(C), start => {?MODULE, start_worker, [C]},
                     type => worker}).

common_spec(C, Spec0) ->
    Spec1 = Spec0#{restart => atom(maps:get(restart, C, <<"permanent">>))},
    Spec2 = case C of
                #{shutdown := Sh} -> Spec1#{shutdown => shutdown(Sh)};
                _ -> Spec1
            end,
    case C of
        #{significant := B} -> Spec2#{significant => B};
        _ -> Spec2
    end.

shutdown(N) when is_integer(N) -> N;
shutdown(<<"brutal_kill">>) -> brutal_kill;
shutdown(<<"infinity">>) -> infinity.

strategy(Cfg) -> atom(maps:get(strategy, Cfg, <<"one_for_one">>)).

uses_dynamic(Cfg) ->
    strategy(Cfg) =:= dynamic orelse
        lists:any(fun(#{supervisor := S}) -> uses_dynamic(S);
                     (_) -> false
                  end, maps:get(children, Cfg, [])).

ensure_elixir() ->
    case code:which('Elixir.DynamicSupervisor') of
        non_existing ->
            Dir = case os:getenv("ELIXIR_EBIN") of
                      false ->
                          Lib = os:cmd("elixir -e 'IO.write(:code.lib_dir(:elixir))'"),
                          filename:join(string:trim(Lib), "ebin");
                      D -> D
                  end,
            true = code:add_pathz(Dir),
            {module, _} = code:ensure_loaded('Elixir.DynamicSupervisor'),
            ok;
        _ ->
            ok
    end.

%%====================================================================
%% Logger handler: turn supervisor reports into events
%%====================================================================

setup_logger() ->
    _ = logger:remove_handler(default),
    ok = logger:add_handler(scn_reports, ?MODULE, #{level => all}).

%% Runs in the process that logs (i.e. in the supervisor itself).
log(#{msg := {report, #{label := {supervisor, Ctx}, report := Rep}}}, _)
  when Ctx =/= progress ->
    Off = proplists:get_value(offender, Rep, []),
    R = proplists:get_value(reason, Rep),
    catch (?COLLECTOR ! {report, self(), Ctx, Off, R}),
    ok;
log(_, _) ->
    ok.

%%====================================================================
%% Collector: single ordered event stream + pid/id registry
%%====================================================================

register_proc(Id, Kind) ->
    Ref = make_ref(),
    ?COLLECTOR ! {register, Id, Kind, self(), {self(), Ref}},
    receive {Ref, ok} -> ok end.

event(Line) ->
    ?COLLECTOR ! {event, line(Line)},
    ok.

%% Flatten an iolist-like structure that may contain atoms and integers.
line(A) when is_atom(A) -> atom_to_list(A);
line(I) when is_integer(I), I >= 0, I =< 16#10FFFF -> [I];
line(B) when is_binary(B) -> unicode:characters_to_list(B);
line(L) when is_list(L) -> lists:append([line(E) || E <- L]).

announce(Parts) -> event(["step " | Parts]).
result(Parts) -> event(["result " | Parts]).

ccall(Req) ->
    Ref = make_ref(),
    ?COLLECTOR ! {call, Req, {self(), Ref}},
    receive {Ref, Reply} -> Reply end.

collector_init() ->
    collector_loop(#{events => [], n => 0,
                     id2pid => #{},      % live processes by scenario id
                     pid2id => #{},      % every pid ever registered
                     sups => [],         % live supervisors [{Id, Pid, Kind}]
                     templates => #{},   % sup id -> child template
                     last => #{}}).      % id -> last pid

collector_loop(S) ->
    receive
        {register, Id, Kind, Pid, {From, Ref}} ->
            monitor(process, Pid),
            S1 = S#{id2pid := maps:put(Id, Pid, maps:get(id2pid, S)),
                    pid2id := maps:put(Pid, Id, maps:get(pid2id, S)),
                    last := maps:put(Id, Pid, maps:get(last, S))},
            S2 = case Kind of
                     {sup, SK, Tmpl} ->
                         S1#{sups := maps:get(sups, S1) ++ [{Id, Pid, SK}],
                             templates := maps:put(Id, Tmpl,
                                                   maps:get(templates, S1))};
                     worker -> S1
                 end,
            From ! {Ref, ok},
            collector_loop(add(S2, ["start ", atom_to_list(Id)]));
        {event, Line} ->
            collector_loop(add(S, Line));
        {'DOWN', _, process, Pid, R} ->
            Id = maps:get(Pid, maps:get(pid2id, S), unknown),
            Id2Pid = case maps:find(Id, maps:get(id2pid, S)) of
                         {ok, Pid} -> maps:remove(Id, maps:get(id2pid, S));
                         _ -> maps:get(id2pid, S)
                     end,
            Sups = [E || {_, P, _} = E <- maps:get(sups, S), P =/= Pid],
            collector_loop(add(S#{id2pid := Id2Pid, sups := Sups},
                               ["down ", atom_to_list(Id), " ", fmt(R)]));
        {report, SupPid, Ctx, Off, R} ->
            SupId = maps:get(SupPid, maps:get(pid2id, S), unknown),
            ChildId = offender_id(Off, S),
            collector_loop(add(S, ["report ", atom_to_list(SupId), " ",
                                   atom_to_list(Ctx), " ", ChildId, " ",
                                   fmt(R)]));
        {call, Req, {From, Ref}} ->
            {Reply, S1} = collector_call(Req, S),
            From ! {Ref, Reply},
            collector_loop(S1)
    end.

collector_call(count, S) -> {maps:get(n, S), S};
collector_call(events, S) -> {lists:reverse(maps:get(events, S)), S};
collector_call({lookup, Id}, S) ->
    {maps:get(Id, maps:get(id2pid, S), undefined), S};
collector_call({last_pid, Id}, S) ->
    {maps:get(Id, maps:get(last, S), undefined), S};
collector_call({id_of, Pid}, S) ->
    {maps:get(Pid, maps:get(pid2id, S), unknown), S};
collector_call(sup_pids, S) ->
    {[P || {_, P, _} <- maps:get(sups, S)], S};
collector_call({sup, Id}, S) ->
    {case lists:keyfind(Id, 1, maps:get(sups, S)) of
         {Id, P, K} -> {P, K};
         false -> undefined
     end, S};
collector_call({template, Id}, S) ->
    {maps:get(Id, maps:get(templates, S), #{}), S};
collector_call({sort_from, From}, S) ->
    %% Events From..n (1-based) are an unordered set: emit them sorted.
    Evs = lists:reverse(maps:get(events, S)),
    {Keep, Tail} = lists:split(From - 1, Evs),
    {ok, S#{events := lists:reverse(Keep ++ lists:sort(Tail))}}.

add(S, Line) ->
    S#{events := [line(Line) | maps:get(events, S)],
       n := maps:get(n, S) + 1}.

offender_id(Off, S) ->
    case proplists:get_value(id, Off) of
        undefined ->
            P = case proplists:get_value(pid, Off) of
                    {restarting, P0} -> P0;
                    P0 -> P0
                end,
            case maps:find(P, maps:get(pid2id, S)) of
                {ok, Id} -> atom_to_list(Id);
                error -> mfargs_id(proplists:get_value(mfargs, Off))
            end;
        Id when is_atom(Id) -> atom_to_list(Id);
        Id -> fmt(Id)
    end.

mfargs_id({_, _, Args}) when is_list(Args) ->
    case [I || #{id := I} <- Args] of
        [] -> "?";
        Ids -> binary_to_list(lists:last(Ids))
    end;
mfargs_id(_) -> "?".

%%====================================================================
%% Term normalization / formatting
%%====================================================================

fmt(T) -> lists:flatten(io_lib:format("~w", [norm(T)])).

norm(P) when is_pid(P) -> pid;
norm(R) when is_reference(R) -> ref;
norm(F) when is_function(F) -> 'fun';
norm(B) when is_binary(B) -> binary_to_atom(B, utf8);
norm(T) when is_tuple(T), tuple_size(T) =:= 9, element(1, T) =:= child ->
    child_record;                              % supervisor's internal #child{}
norm(T) when is_tuple(T) -> list_to_tuple([norm(E) || E <- tuple_to_list(T)]);
norm(L) when is_list(L) -> [norm(E) || E <- L];
norm(M) when is_map(M) -> maps:from_list([{norm(K), norm(V)}
                                          || {K, V} <- maps:to_list(M)]);
norm(X) -> X.

%% JSON value -> exit reason: "boom" -> boom, {"shutdown": "x"} ->
%% {shutdown, x}, [a, b] -> {a, b}
reason(B) when is_binary(B) -> atom(B);
reason(#{shutdown := X}) -> {shutdown, reason(X)};
reason(L) when is_list(L) -> list_to_tuple([reason(E) || E <- L]);
reason(X) -> X.

get_id(#{id := Id}) -> atom(Id).

atom(A) when is_atom(A) -> A;
atom(B) when is_binary(B) -> binary_to_atom(B, utf8).

%%====================================================================
%% Minimal JSON decoder (OTP 25 has no json module).
%% Objects -> maps with atom keys, strings -> binaries.
%%====================================================================

json_decode(Bin) ->
    {V, Rest} = jv(ws(Bin)),
    <<>> = ws(Rest),
    V.

ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> ws(R);
ws(B) -> B.

jv(<<${, R/binary>>) -> jobj(ws(R), #{});
jv(<<$[, R/binary>>) -> jarr(ws(R), []);
jv(<<$", R/binary>>) -> jstr(R, []);
jv(<<"true", R/binary>>) -> {true, R};
jv(<<"false", R/binary>>) -> {false, R};
jv(<<"null", R/binary>>) -> {null, R};
jv(B) -> jnum(B, []).

jobj(<<$}, R/binary>>, Acc) -> {Acc, R};
jobj(<<$", R0/binary>>, Acc) ->
    {K, R1} = jstr(R0, []),
    <<$:, R2/binary>> = ws(R1),
    {V, R3} = jv(ws(R2)),
    Acc1 = maps:put(binary_to_atom(K, utf8), V, Acc),
    case ws(R3) of
        <<$,, R4/binary>> -> jobj(ws(R4), Acc1);
        <<$}, R4/binary>> -> {Acc1, R4}
    end.

jarr(<<$], R/binary>>, Acc) -> {lists:reverse(Acc), R};
jarr(B, Acc) ->
    {V, R1} = jv(B),
    case ws(R1) of
        <<$,, R2/binary>> -> jarr(ws(R2), [V | Acc]);
        <<$], R2/binary>> -> {lists:reverse([V | Acc]), R2}
    end.

jstr(<<$", R/binary>>, Acc) ->
    {unicode:characters_to_binary(lists:reverse(Acc)), R};
jstr(<<$\\, $u, H:4/binary, R/binary>>, Acc) ->
    jstr(R, [binary_to_integer(H, 16) | Acc]);
jstr(<<$\\, C, R/binary>>, Acc) ->
    E = case C of $n -> $\n; $t -> $\t; $r -> $\r; $b -> $\b; $f -> $\f;
            _ -> C end,
    jstr(R, [E | Acc]);
jstr(<<C/utf8, R/binary>>, Acc) -> jstr(R, [C | Acc]).

jnum(<<C, R/binary>>, Acc)
  when (C >= $0 andalso C =< $9); C =:= $-; C =:= $+; C =:= $.;
       C =:= $e; C =:= $E ->
    jnum(R, [C | Acc]);
jnum(R, Acc) ->
    S = lists:reverse(Acc),
    case string:to_integer(S) of
        {I, []} -> {I, R};
        _ -> {list_to_float(S), R}
    end.
