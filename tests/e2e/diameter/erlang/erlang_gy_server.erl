%% A minimal Gy (RFC 4006) server on Erlang/OTP's diameter application: the peer that proves
%% the test client works, independently of famsim.
%%
%%   erl -noshell -pa BUILD -run erlang_gy_server main Host Port OriginHost OriginRealm
%%
%% diameter itself answers CER, DWR and DPR. Every CCR gets a fixed, well-formed CCA:
%% Result-Code 2001, the request's Session-Id, CC-Request-Type and CC-Request-Number, and per
%% requested MSCC: its Rating-Group, Result-Code 2001, Validity-Time 3600 and, unless the
%% request terminates the session, Granted-Service-Unit CC-Total-Octets 1048576 (with
%% CC-Time / CC-Service-Specific-Units when those were requested). A Session-Id containing
%% "omit-request-number" gets a CCA without CC-Request-Number (mandatory in the dictionary),
%% sent with arity checks off, so a test can see a strict client reject it; one containing
%% "final-unit" gets Final-Unit-Indication TERMINATE in each MSCC; one containing
%% "missing-avp" gets Result-Code 5005 with Failed-AVP naming Subscription-Id; one containing
%% "protocol-error" gets an E-bit answer-message with Result-Code 3004 instead of a CCA.
%% Prints {"event":"listening",...} once it accepts connections, then {"event":"ccr",...} with
%% what it decoded from each CCR (so a test can check what the client sent).
-module(erlang_gy_server).

-include_lib("diameter/include/diameter.hrl").

-export([main/1]).
-export([peer_up/3, peer_down/3, pick_peer/4, prepare_request/3, prepare_retransmit/3,
         handle_answer/4, handle_error/4, handle_request/3]).

-define(SVC, erlang_gy_server).
-define(GRANTED_OCTETS, 1048576).

main([Host, Port, OriginHost, Realm]) ->
    ok = diameter:start(),
    {ok, Addr} = inet:getaddr(Host, inet),
    ok = diameter:start_service(?SVC, service(OriginHost, Realm)),
    {ok, _Ref} = diameter:add_transport(?SVC, transport(Addr, list_to_integer(Port))),
    erlang_gy_json:line(#{event => listening, host => list_to_binary(Host),
                          port => list_to_integer(Port)}).

service(OriginHost, Realm) ->
    [{'Origin-Host', OriginHost},
     {'Origin-Realm', Realm},
     {'Vendor-Id', 0},
     {'Product-Name', "famsim-erlang-gy-test-server"},
     {'Auth-Application-Id', [4]},
     {'Supported-Vendor-Id', [10415]},
     {decode_format, map},
     {string_decode, false},
     %% 3GPP's Service-Information is not in the RFC 4006 dictionary: accept it unknown.
     {strict_mbit, false},
     %% Lets the "omit-request-number" answer go out without a mandatory AVP.
     {strict_arities, decode},
     {application, [{alias, cc},
                    {dictionary, rfc4006_cc},
                    {module, ?MODULE}]}].

transport(Addr, Port) ->
    {listen, [{transport_module, diameter_tcp},
              {transport_config, [{ip, Addr}, {port, Port}, {reuseaddr, true}]},
              %% A client that reconnects with the same Origin-Host (every test's does) is
              %% otherwise in RFC 3539's REOPEN until 3 DWR/DWA rounds, its CCRs dropped.
              {watchdog_config, [{okay, 0}]}]}.

peer_up(_Svc, _Peer, State) -> State.
peer_down(_Svc, _Peer, State) -> State.
pick_peer(_, _, _Svc, _State) -> false.
prepare_request(Packet, _Svc, _Peer) -> {send, Packet}.
prepare_retransmit(Packet, _Svc, _Peer) -> {send, Packet}.
handle_answer(Packet, _Request, _Svc, _Peer) -> Packet.
handle_error(Reason, _Request, _Svc, _Peer) -> {error, Reason}.

handle_request(#diameter_packet{msg = ['CCR' | Ccr]}, Svc, Peer) ->
    erlang_gy_json:line(received(Ccr)),
    SessionId = maps:get('Session-Id', Ccr),
    case binary:match(SessionId, <<"protocol-error">>) of
        nomatch -> cca(Ccr, Svc, Peer);
        _ -> {protocol_error, 3004}  % DIAMETER_TOO_BUSY, an E-bit answer-message
    end;
handle_request(_Packet, _Svc, _Peer) ->
    {answer_message, 3001}.

cca(Ccr, _Svc, {_, Caps}) ->
    #diameter_caps{origin_host = {OH, _}, origin_realm = {OR, _}} = Caps,
    SessionId = maps:get('Session-Id', Ccr),
    Type = maps:get('CC-Request-Type', Ccr),
    Cca = #{'Session-Id' => SessionId,
            'Result-Code' => 2001,
            'Origin-Host' => OH,
            'Origin-Realm' => OR,
            'Auth-Application-Id' => 4,
            'CC-Request-Type' => Type,
            'CC-Request-Number' => maps:get('CC-Request-Number', Ccr),
            'Multiple-Services-Credit-Control' =>
                [mscc(M, Type, SessionId)
                 || M <- maps:get('Multiple-Services-Credit-Control', Ccr, [])]},
    Cca1 = case {binary:match(SessionId, <<"omit-request-number">>),
                 binary:match(SessionId, <<"missing-avp">>)} of
               {nomatch, nomatch} ->
                   Cca;
               {_, nomatch} ->
                   maps:remove('CC-Request-Number', Cca);
               {nomatch, _} ->
                   %% DIAMETER_MISSING_AVP naming Subscription-Id, as a server does when a
                   %% CCR lacks it.
                   Missing = #diameter_avp{code = 443, is_mandatory = true, data = <<>>},
                   Cca#{'Result-Code' => 5005,
                        'Multiple-Services-Credit-Control' => [],
                        'Failed-AVP' => [#{'AVP' => [Missing]}]}
           end,
    {reply, ['CCA' | Cca1]}.

mscc(Requested, Type, SessionId) ->
    Base = #{'Result-Code' => 2001, 'Validity-Time' => 3600},
    M1 = case opt('Rating-Group', Requested) of
             {ok, RG} -> Base#{'Rating-Group' => RG};
             error -> Base
         end,
    M2 = case Type of
             3 -> M1;
             _ -> M1#{'Granted-Service-Unit' => granted(Requested)}
         end,
    case binary:match(SessionId, <<"final-unit">>) of
        nomatch -> M2;
        _ -> M2#{'Final-Unit-Indication' => #{'Final-Unit-Action' => 0}}
    end.

granted(Requested) ->
    Rsu = case opt('Requested-Service-Unit', Requested) of
              {ok, R} -> R;
              error -> #{}
          end,
    G = #{'CC-Total-Octets' => ?GRANTED_OCTETS},
    G1 = case opt('CC-Time', Rsu) of
             {ok, _} -> G#{'CC-Time' => 600};
             error -> G
         end,
    case opt('CC-Service-Specific-Units', Rsu) of
        {ok, _} -> G1#{'CC-Service-Specific-Units' => 1};
        error -> G1
    end.

%% The map decode format gives an [ optional ] AVP as [] or [Value].
opt(Name, Avps) ->
    case maps:find(Name, Avps) of
        {ok, [V]} -> {ok, V};
        {ok, []} -> error;
        {ok, V} -> {ok, V};
        error -> error
    end.

%% What the CCR carried, as JSON: the test checks what the client encoded.
received(Ccr) ->
    Top = pick(#{event => ccr},
               [{'Session-Id', session_id}, {'CC-Request-Type', cc_request_type},
                {'CC-Request-Number', cc_request_number},
                {'Service-Context-Id', service_context_id},
                {'Destination-Realm', destination_realm},
                {'Auth-Application-Id', auth_application_id},
                {'Requested-Action', requested_action},
                {'Multiple-Services-Indicator', multiple_services_indicator}], Ccr),
    Subscriptions = [#{type => maps:get('Subscription-Id-Type', S),
                       data => maps:get('Subscription-Id-Data', S)}
                     || S <- maps:get('Subscription-Id', Ccr, [])],
    Msccs = [mscc_received(M) || M <- maps:get('Multiple-Services-Credit-Control', Ccr, [])],
    Top1 = Top#{subscription_id => Subscriptions, mscc => Msccs},
    case sgsn_mcc_mnc(maps:get('AVP', Ccr, [])) of
        {ok, MccMnc} -> Top1#{sgsn_mcc_mnc => MccMnc};
        error -> Top1
    end.

mscc_received(M) ->
    Out = pick(#{}, [{'Rating-Group', rating_group}], M),
    Out1 = case opt('Requested-Service-Unit', M) of
               {ok, Rsu} -> Out#{requested => units(Rsu)};
               error -> Out
           end,
    case maps:get('Used-Service-Unit', M, []) of
        [] -> Out1;
        Used -> Out1#{used => [units(U) || U <- Used]}
    end.

units(U) ->
    pick(#{}, [{'CC-Total-Octets', total_octets}, {'CC-Time', time},
               {'CC-Service-Specific-Units', units}], U).

pick(Acc, Fields, Avps) ->
    lists:foldl(fun({Name, Key}, A) ->
                        case opt(Name, Avps) of
                            {ok, V} -> A#{Key => V};
                            error -> A
                        end
                end, Acc, Fields).

%% Service-Information (873) > PS-Information (874) > 3GPP-SGSN-MCC-MNC (18), vendor 10415:
%% unknown to the RFC 4006 dictionary, so they arrive raw in * [ AVP ].
sgsn_mcc_mnc(Avps) ->
    Found = [Data || #diameter_avp{code = 873, vendor_id = 10415, data = Data} <- Avps],
    case Found of
        [ServiceInformation | _] ->
            case find_avp(874, ServiceInformation) of
                {ok, PsInformation} -> find_avp(18, PsInformation);
                error -> error
            end;
        [] ->
            error
    end.

find_avp(Code, <<Code:32, Flags:8, Length:24, Rest/binary>>) ->
    {Header, Body} = split_vendor(Flags, Rest),
    DataLength = Length - 8 - Header,
    <<Data:DataLength/binary, _/binary>> = Body,
    {ok, Data};
find_avp(Code, <<_:32, _Flags:8, Length:24, _/binary>> = Bin) when Length >= 8 ->
    Padded = (Length + 3) div 4 * 4,
    case Bin of
        <<_:Padded/binary, Next/binary>> -> find_avp(Code, Next);
        _ -> error
    end;
find_avp(_Code, _) ->
    error.

split_vendor(Flags, <<_Vendor:32, Body/binary>>) when Flags band 16#80 /= 0 -> {4, Body};
split_vendor(_Flags, Body) -> {0, Body}.
