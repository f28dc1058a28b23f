%% A Gy (RFC 4006 credit-control) test client on Erlang/OTP's diameter application.
%%
%%   erl -noshell -pa BUILD -run erlang_gy_client main Host Port OriginHost OriginRealm
%%       ScenarioFile [TwMillis]
%%
%% Connects over TCP, exchanges CER/CEA (Auth-Application-Id 4, Supported-Vendor-Id 10415),
%% then runs the scenario file's steps (Erlang terms, one per step, read by file:consult):
%%
%%   {ccr, #{type => initial | update | termination | event, session => Key,
%%           number => N, subscription => {Type, Data}, msccs => [#{rating_group => RG,
%%           requested => Units, used => Units}], service_context => Id,
%%           requested_action => A, sgsn_mcc_mnc => MccMnc}}
%%       Units = #{total_octets => N, time => S, units => N}; only type, session and
%%       number are required. The Session-Id is "OriginHost;Key".
%%   {dwr}   waits (up to 3 Tw) until the watchdog has sent a DWR and decoded its DWA
%%   {dpr}   removes the transport: diameter sends DPR and waits for the DPA (diameter keeps
%%           no trace of the DPA once the peer is down: "answered" means it went down before
%%           the DPA timeout)
%%   {sleep, Millis}
%%
%% Prints one JSON line per answer, with what diameter decoded (a CCA's Failed-AVP as
%% "failed_avp": [AVP names]; an E-bit answer as "command": "answer-message"), or an
%% "error" line when
%% diameter rejected the answer (a decode error, e.g. a missing mandatory AVP, or a timeout).
%% Exits 0 when the scenario ran to its end (error lines included), 2 when it could not
%% start (no connection, CER refused).
-module(erlang_gy_client).

-include_lib("diameter/include/diameter.hrl").

-export([main/1, tw/1]).
%% diameter application callbacks
-export([peer_up/3, peer_down/3, pick_peer/4, prepare_request/3, prepare_retransmit/3,
         handle_answer/4, handle_error/4, handle_request/3]).

-define(SVC, erlang_gy_client).
-define(APP, cc).
-define(CALL_TIMEOUT, 5000).
%% How long diameter waits for the DPA after sending DPR before closing anyway: a peer that
%% goes down sooner answered the DPR (or closed the connection itself).
-define(DPA_TIMEOUT, 4000).

main([Host, Port, OriginHost, Realm, File | Rest]) ->
    Tw = case Rest of
             [TwText | _] -> list_to_integer(TwText);
             [] -> 30000
         end,
    Code = try
               run(Host, list_to_integer(Port), OriginHost, Realm, File, Tw)
           catch
               Class:Reason:Stack ->
                   out(#{event => crash, error => format({Class, Reason, Stack})}),
                   3
           end,
    halt(Code).

run(Host, Port, OriginHost, Realm, File, Tw) ->
    {ok, Steps} = file:consult(File),
    ok = diameter:start(),
    {ok, Addr} = inet:getaddr(Host, inet),
    ok = diameter:start_service(?SVC, service(OriginHost, Realm)),
    true = diameter:subscribe(?SVC),
    {ok, Ref} = diameter:add_transport(?SVC, transport(Addr, Port, Tw)),
    case wait_up(Ref, 10000) of
        {ok, Peer} ->
            Ctx = #{origin_host => list_to_binary(OriginHost),
                    origin_realm => list_to_binary(Realm),
                    dest_realm => remote_realm(Peer), ref => Ref, tw => Tw},
            lists:foldl(fun(Step, N) -> step(Step, N, Ctx), N + 1 end, 1, Steps),
            0;
        error ->
            2
    end.

service(OriginHost, Realm) ->
    [{'Origin-Host', OriginHost},
     {'Origin-Realm', Realm},
     {'Vendor-Id', 0},
     {'Product-Name', "famsim-erlang-gy-test-client"},
     {'Auth-Application-Id', [4]},
     {'Supported-Vendor-Id', [10415]},
     {decode_format, map},
     {string_decode, false},
     {application, [{alias, ?APP},
                    {dictionary, rfc4006_cc},
                    {module, ?MODULE},
                    {answer_errors, callback}]}].

transport(Addr, Port, Tw) ->
    {connect, [{transport_module, diameter_tcp},
               {transport_config, [{raddr, Addr}, {rport, Port}]},
               {connect_timer, 60000},
               {dpa_timeout, ?DPA_TIMEOUT},
               {watchdog_timer, {?MODULE, tw, [Tw]}}]}.

%% diameter refuses an integer Tw under 6 s (RFC 3539's floor, with +-2 s jitter), but
%% takes any value from a function: tests use a short one to see a DWR/DWA exchange soon.
tw(Millis) -> Millis.

%% Wait for the CEA: print it, or why the connection failed.
wait_up(Ref, Timeout) ->
    receive
        #diameter_event{info = {up, Ref, Peer, _Config, #diameter_packet{msg = Msg}}} ->
            out(cea(Msg)),
            {ok, Peer};
        #diameter_event{info = {up, Ref, Peer, _Config}} ->
            out(#{command => 'CEA', event => up}),
            {ok, Peer};
        #diameter_event{info = {closed, Ref, Reason, _Config}} ->
            out(#{command => 'CEA', error => format(Reason)}),
            error;
        #diameter_event{} ->
            wait_up(Ref, Timeout)
    after Timeout ->
        out(#{command => 'CEA', error => <<"timeout: no capabilities exchange">>}),
        error
    end.

remote_realm({_PeerRef, #diameter_caps{origin_realm = {_Local, Remote}}}) ->
    Remote.

cea(['CEA' | Avps]) ->
    pick(#{command => 'CEA'},
         [{'Result-Code', result_code}, {'Origin-Host', origin_host},
          {'Origin-Realm', origin_realm}, {'Product-Name', product_name},
          {'Vendor-Id', vendor_id}, {'Auth-Application-Id', auth_application_id},
          {'Supported-Vendor-Id', supported_vendor_id}], Avps);
cea(Other) ->
    #{command => 'CEA', decoded => format(Other)}.

%% ---------------------------------------------------------------------------
%% Steps

step({ccr, Spec}, N, Ctx) ->
    Request = ccr(Spec, Ctx),
    case diameter:call(?SVC, ?APP, Request, [{timeout, ?CALL_TIMEOUT}]) of
        ['CCA' | Avps] ->
            out(cca(Avps, N));
        ['answer-message' | Avps] ->
            %% A protocol error (E bit): RFC 6733's answer-message, not a CCA.
            out(pick(#{step => N, command => 'answer-message', error => <<"protocol error">>},
                     [{'Session-Id', session_id, opt}, {'Result-Code', result_code},
                      {'Origin-Host', origin_host}, {'Error-Message', error_message, opt}],
                     Avps));
        {error, {answer_errors, Errors, Msg}} ->
            out(#{step => N, command => 'CCA', error => <<"answer failed to decode">>,
                  errors => [avp_error(E) || E <- Errors], partial => cca_partial(Msg)});
        {error, Reason} ->
            out(#{step => N, command => 'CCA', error => format(Reason)});
        Other ->
            out(#{step => N, command => 'CCA', error => format({unexpected, Other})})
    end;
step({dwr}, N, #{tw := Tw}) ->
    Before = dwa_count(),
    Deadline = erlang:monotonic_time(millisecond) + 3 * Tw + 2000,
    case wait_dwa(Before, Deadline) of
        {ok, Count, Codes} ->
            out(maps:merge(#{step => N, command => 'DWA', dwa_received => Count}, Codes));
        timeout ->
            out(#{step => N, command => 'DWA', error => <<"no DWA within 3 Tw">>})
    end;
step({dpr}, N, #{ref := Ref}) ->
    Start = erlang:monotonic_time(millisecond),
    ok = diameter:remove_transport(?SVC, Ref),
    case wait_down(Ref, ?DPA_TIMEOUT + 2000) of
        ok ->
            Elapsed = erlang:monotonic_time(millisecond) - Start,
            out(#{step => N, command => 'DPA', event => down, elapsed_ms => Elapsed,
                  answered => Elapsed < ?DPA_TIMEOUT});
        timeout ->
            out(#{step => N, command => 'DPA', error => <<"peer not down after DPR">>})
    end;
step({sleep, Millis}, _N, _Ctx) ->
    timer:sleep(Millis);
step(Other, N, _Ctx) ->
    out(#{step => N, error => format({unknown_step, Other})}).

ccr(Spec, #{origin_host := OH, origin_realm := OR, dest_realm := DR}) ->
    Key = to_bin(maps:get(session, Spec)),
    Msccs = maps:get(msccs, Spec, []),
    Base = #{'Session-Id' => <<OH/binary, ";", Key/binary>>,
             'Origin-Host' => OH,
             'Origin-Realm' => OR,
             'Destination-Realm' => DR,
             'Auth-Application-Id' => 4,
             'Service-Context-Id' => to_bin(maps:get(service_context, Spec,
                                                     <<"32251@3gpp.org">>)),
             'CC-Request-Type' => request_type(maps:get(type, Spec)),
             'CC-Request-Number' => maps:get(number, Spec),
             'Multiple-Services-Credit-Control' => [mscc(M) || M <- Msccs]},
    Optional = [{'Subscription-Id', fun({Type, Data}) ->
                                            [#{'Subscription-Id-Type' => Type,
                                               'Subscription-Id-Data' => to_bin(Data)}]
                                    end, subscription},
                {'Requested-Action', fun(A) -> A end, requested_action},
                {'Multiple-Services-Indicator', fun(I) -> I end, multiple_services},
                {'AVP', fun(MccMnc) -> [service_information(to_bin(MccMnc))] end,
                 sgsn_mcc_mnc}],
    Avps = lists:foldl(fun({Name, F, K}, Acc) ->
                               case maps:find(K, Spec) of
                                   {ok, V} -> Acc#{Name => F(V)};
                                   error -> Acc
                               end
                       end, Base, Optional),
    Avps1 = case {Msccs, maps:is_key('Multiple-Services-Indicator', Avps)} of
                {[_ | _], false} -> Avps#{'Multiple-Services-Indicator' => 1};
                _ -> Avps
            end,
    ['CCR' | Avps1].

request_type(initial) -> 1;
request_type(update) -> 2;
request_type(termination) -> 3;
request_type(event) -> 4;
request_type(N) when is_integer(N) -> N.

mscc(Spec) ->
    lists:foldl(fun({K, Name}, Acc) ->
                        case maps:find(K, Spec) of
                            {ok, Units} when K == used -> Acc#{Name => [units(Units)]};
                            {ok, Units} -> Acc#{Name => units(Units)};
                            error -> Acc
                        end
                end,
                case maps:find(rating_group, Spec) of
                    {ok, RG} -> #{'Rating-Group' => RG};
                    error -> #{}
                end,
                [{requested, 'Requested-Service-Unit'}, {used, 'Used-Service-Unit'}]).

units(Units) ->
    maps:fold(fun(total_octets, V, Acc) -> Acc#{'CC-Total-Octets' => V};
                 (time, V, Acc) -> Acc#{'CC-Time' => V};
                 (units, V, Acc) -> Acc#{'CC-Service-Specific-Units' => V};
                 (input_octets, V, Acc) -> Acc#{'CC-Input-Octets' => V};
                 (output_octets, V, Acc) -> Acc#{'CC-Output-Octets' => V}
              end, #{}, Units).

%% Service-Information (873) > PS-Information (874) > 3GPP-SGSN-MCC-MNC (18), all of
%% vendor 10415: not in the RFC 4006 dictionary, so encoded here by hand and sent in the
%% CCR's * [ AVP ] slot.
service_information(MccMnc) ->
    Sgsn = avp(18, 16#80, MccMnc),
    PsInformation = avp(874, 16#C0, Sgsn),
    #diameter_avp{code = 873, vendor_id = 10415, is_mandatory = true,
                  data = PsInformation}.

avp(Code, Flags, Data) ->
    Length = 12 + byte_size(Data),
    Pad = (4 - Length rem 4) rem 4,
    <<Code:32, Flags:8, Length:24, 10415:32, Data/binary, 0:Pad/unit:8>>.

%% ---------------------------------------------------------------------------
%% Decoded answers -> JSON

cca(Avps, N) ->
    Top = pick(#{step => N, command => 'CCA'},
               [{'Session-Id', session_id}, {'Result-Code', result_code},
                {'Origin-Host', origin_host}, {'Origin-Realm', origin_realm},
                {'Auth-Application-Id', auth_application_id},
                {'CC-Request-Type', cc_request_type},
                {'CC-Request-Number', cc_request_number},
                {'Validity-Time', validity_time, opt}], Avps),
    Top1 = case opt('Granted-Service-Unit', Avps) of
               {ok, Gsu} -> Top#{granted => granted(Gsu)};
               error -> Top
           end,
    Top2 = case opt('Final-Unit-Indication', Avps) of
               {ok, Fui} -> Top1#{final_unit_action => maps:get('Final-Unit-Action', Fui)};
               error -> Top1
           end,
    Top3 = case maps:get('Failed-AVP', Avps, []) of
               [] -> Top2;
               Failed -> Top2#{failed_avp => lists:append([failed_avp(F) || F <- Failed])}
           end,
    Top3#{mscc => [mscc_out(M) || M <- maps:get('Multiple-Services-Credit-Control', Avps, [])]}.

%% Failed-AVP { * AVP }: the AVPs the server named, by name when the dictionary knows them.
failed_avp(#{'AVP' := Avps}) ->
    [case A of
         #diameter_avp{name = undefined, code = Code} -> Code;
         #diameter_avp{name = Name} -> Name
     end || A <- Avps];
failed_avp(_) ->
    [].

cca_partial(['CCA' | Avps]) when is_map(Avps) ->
    pick(#{}, [{'Session-Id', session_id}, {'Result-Code', result_code},
               {'CC-Request-Type', cc_request_type},
               {'CC-Request-Number', cc_request_number}], Avps);
cca_partial(_) ->
    null.

mscc_out(M) ->
    Out = pick(#{}, [{'Rating-Group', rating_group, opt}, {'Result-Code', result_code, opt},
                     {'Validity-Time', validity_time, opt}], M),
    Out1 = case opt('Granted-Service-Unit', M) of
               {ok, Gsu} -> Out#{granted => granted(Gsu)};
               error -> Out
           end,
    case opt('Final-Unit-Indication', M) of
        {ok, Fui} -> Out1#{final_unit_action => maps:get('Final-Unit-Action', Fui)};
        error -> Out1
    end.

granted(Gsu) ->
    pick(#{}, [{'CC-Total-Octets', total_octets, opt}, {'CC-Time', time, opt},
               {'CC-Service-Specific-Units', units, opt},
               {'CC-Input-Octets', input_octets, opt},
               {'CC-Output-Octets', output_octets, opt}], Gsu).

%% Fields are {AvpName, JsonKey} for { required } or * [ repeated ] AVPs, and
%% {AvpName, JsonKey, opt} for [ optional ] ones, which the map decode format gives as [] or
%% [Value].
pick(Acc, Fields, Avps) ->
    lists:foldl(fun({Name, Key}, A) ->
                        case maps:find(Name, Avps) of
                            {ok, V} -> A#{Key => V};
                            error -> A
                        end;
                   ({Name, Key, opt}, A) ->
                        case opt(Name, Avps) of
                            {ok, V} -> A#{Key => V};
                            error -> A
                        end
                end, Acc, Fields).

opt(Name, Avps) ->
    case maps:find(Name, Avps) of
        {ok, [V]} -> {ok, V};
        {ok, []} -> error;
        {ok, V} -> {ok, V};
        error -> error
    end.

avp_error({Code, #diameter_avp{name = Name}}) ->
    #{result_code => Code, avp => Name};
avp_error({Code, Other}) ->
    #{result_code => Code, avp => format(Other)};
avp_error(Code) when is_integer(Code) ->
    #{result_code => Code};
avp_error(Other) ->
    #{error => format(Other)}.

%% ---------------------------------------------------------------------------
%% Watchdog and disconnection

stats() ->
    case diameter:service_info(?SVC, statistics) of
        L when is_list(L) -> L;
        _ -> []
    end.

%% DWAs received (command 280, answer) and their Result-Codes, over all peers.
dwa_count() ->
    {Count, _} = dwa_stats(),
    Count.

dwa_stats() ->
    Counters = lists:flatten([C || {_Peer, C} <- stats()]),
    lists:foldl(fun({{{0, 280, 0}, recv}, N}, {C, Codes}) -> {C + N, Codes};
                   ({{{0, 280, 0}, recv, {'Result-Code', RC}}, N}, {C, Codes}) ->
                        {C, Codes#{result_code => RC, result_code_count => N}};
                   (_, Acc) -> Acc
                end, {0, #{}}, Counters).

wait_dwa(Before, Deadline) ->
    case dwa_stats() of
        {Count, Codes} when Count > Before ->
            {ok, Count, Codes};
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> timeout;
                false -> timer:sleep(50), wait_dwa(Before, Deadline)
            end
    end.

wait_down(Ref, Timeout) ->
    receive
        #diameter_event{info = {down, Ref, _, _}} -> ok;
        #diameter_event{info = {closed, Ref, _, _}} -> ok;
        #diameter_event{} -> wait_down(Ref, Timeout)
    after Timeout -> timeout
    end.

%% ---------------------------------------------------------------------------
%% diameter callbacks

peer_up(_Svc, _Peer, State) -> State.
peer_down(_Svc, _Peer, State) -> State.

pick_peer([Peer | _], _, _Svc, _State) -> {ok, Peer};
pick_peer([], _, _Svc, _State) -> false.

prepare_request(#diameter_packet{msg = Msg}, _Svc, _Peer) -> {send, Msg}.
prepare_retransmit(Packet, Svc, Peer) -> prepare_request(Packet, Svc, Peer).

%% answer_errors is callback: an answer that failed to decode arrives here with its errors.
handle_answer(#diameter_packet{msg = Msg, errors = []}, _Request, _Svc, _Peer) ->
    Msg;
handle_answer(#diameter_packet{msg = Msg, errors = Errors}, _Request, _Svc, _Peer) ->
    {error, {answer_errors, Errors, Msg}}.

handle_error(Reason, _Request, _Svc, _Peer) -> {error, Reason}.

handle_request(_Packet, _Svc, _Peer) -> {answer_message, 3001}.

%% ---------------------------------------------------------------------------

out(Map) ->
    erlang_gy_json:line(Map).

format(Term) ->
    iolist_to_binary(io_lib:format("~0p", [Term])).

to_bin(B) when is_binary(B) -> B;
to_bin(L) when is_list(L) -> unicode:characters_to_binary(L);
to_bin(A) when is_atom(A) -> atom_to_binary(A, utf8);
to_bin(N) when is_integer(N) -> integer_to_binary(N).
