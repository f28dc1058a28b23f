%% A tiny JSON encoder for the test client's and server's output lines (OTP 25 has no json
%% module). Maps with atom or binary keys, integers, binaries (UTF-8 text), lists, atoms
%% (true, false, null, or written as strings).
-module(erlang_gy_json).
-export([encode/1, line/1]).

line(Term) ->
    io:put_chars([encode(Term), $\n]).

encode(null) -> <<"null">>;
encode(true) -> <<"true">>;
encode(false) -> <<"false">>;
encode(N) when is_integer(N) -> integer_to_binary(N);
encode(F) when is_float(F) -> float_to_binary(F, [short]);
encode(A) when is_atom(A) -> string(atom_to_binary(A, utf8));
encode(B) when is_binary(B) -> string(B);
encode(M) when is_map(M) ->
    Pairs = [[string(key(K)), $:, encode(V)] || {K, V} <- lists:sort(maps:to_list(M))],
    [${, lists:join($,, Pairs), $}];
encode(L) when is_list(L) ->
    [$[, lists:join($,, [encode(E) || E <- L]), $]];
encode(Other) ->
    string(iolist_to_binary(io_lib:format("~0p", [Other]))).

key(K) when is_atom(K) -> atom_to_binary(K, utf8);
key(K) when is_binary(K) -> K;
key(K) -> iolist_to_binary(io_lib:format("~0p", [K])).

string(B) ->
    [$", [escape(C) || C <- unicode:characters_to_list(B)], $"].

escape($") -> "\\\"";
escape($\\) -> "\\\\";
escape($\n) -> "\\n";
escape($\r) -> "\\r";
escape($\t) -> "\\t";
escape(C) when C < 16#20 -> io_lib:format("\\u~4.16.0b", [C]);
escape(C) -> unicode:characters_to_binary([C]).
