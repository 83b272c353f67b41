# proxy407 の日本語の文言。人が読む出力（端末のレポート、HTML レポート、ダッシュボード）は
# すべてここか en.ftl から文言を取る。機械向けの出力（JSON、CSV、Parquet、メトリクス名、
# 原因と所見のコード）は言語によって変わらない。
# 数値は整形済みで渡される（$n: "1,234"）。$n_plural は同じ数の複数形選択用（日本語では使わない）。

## 原因（docs/verdicts.md §4.3）：名前、通信に見えたこと、対処、再発防止。

cause-handshake_broken = ハンドシェイクの中断 (handshake_broken)
cause-handshake_broken-meaning = 接続単位の NTLM/Negotiate ハンドシェイクが最後のメッセージの前に途切れた
cause-handshake_broken-remedy = 経路上のすべての機器でキープアライブを保ち、ロードバランサーを固定振り分けにする。クライアントのプロキシ設定の見直し
cause-handshake_broken-prevention = キープアライブを端から端まで保ち、ロードバランサーは同じクライアントを同じプロキシへ振り分ける（送信元アドレスや Cookie で固定）
cause-scheme_mismatch = 認証方式の不一致 (scheme_mismatch)
cause-scheme_mismatch-meaning = プロキシが提示していない認証方式でクライアントが応答した
cause-scheme_mismatch-remedy = プロキシ設定の見直し：プロキシが提示する認証方式を使うようクライアントを設定する
cause-scheme_mismatch-prevention = プロキシ設定をグループポリシーや PAC ファイルで一括配布し、すべてのクライアントをプロキシの認証方式にそろえる
cause-bad_credentials = 認証情報の誤り (bad_credentials)
cause-bad_credentials-meaning = プロキシが認証情報を拒否した
cause-bad_credentials-remedy = 認証情報の確認：パスワード、アカウントの状態、保存された認証情報。Kerberos ならキータブ・SPN・時刻
cause-bad_credentials-prevention = パスワードを変えたら保存済みの認証情報（ブラウザ、資格情報マネージャー、キーチェーン）を消す。プロキシの SPN を登録したままにし、時刻を NTP で同期する
cause-no_credentials = 認証情報の未提供 (no_credentials)
cause-no_credentials-meaning = 認証を求められた後、クライアントが一度も認証情報を送らなかった
cause-no_credentials-remedy = ブラウザの設定を確認：アプリケーションがプロキシ認証に対応していないか、認証情報が設定されていない
cause-no_credentials-prevention = アプリケーションを導入する前に、プロキシの認証情報か除外設定をポリシーで配布する。Negotiate や NTLM に対応したクライアントを選ぶ
cause-denied = アクセス拒否 (denied)
cause-denied-meaning = プロキシはクライアントを認証したが、リクエストを拒否した
cause-denied-remedy = プロキシサーバーの設定：アクセスポリシー、または大きな Kerberos トークンに対するヘッダーサイズの上限を確認。IT部門への問い合わせ
cause-denied-prevention = グループが変わるたびにアクセス規則を見直し、多くのグループに属するユーザーの Kerberos トークンが収まるヘッダー上限にしておく
cause-connection_closed = 接続の切断 (connection_closed)
cause-connection_closed-meaning = 応答のないリクエストを残したまま、接続が閉じられたかリセットされた
cause-connection_closed-remedy = ネットワーク接続の確認：プロキシかネットワーク機器が接続を切っている
cause-connection_closed-prevention = ファイアウォールやロードバランサーのアイドルタイムアウトをプロキシのキープアライブより長くし、接続をリセットする機器を監視する
cause-no_response = 応答なし (no_response)
cause-no_response-meaning = 再試行の期間内にリクエストへの応答がなかった
cause-no_response-remedy = ネットワーク接続の確認：プロキシの過負荷か、経路の障害
cause-no_response-prevention = プロキシの負荷と応答時間を監視し、利用者が気づく前に警告を出す
cause-proxy_unreachable = プロキシに到達できない (proxy_unreachable)
cause-proxy_unreachable-meaning = プロキシのポートへの接続に応答がないか、リセットされた
cause-proxy_unreachable-remedy = プロキシ設定の見直し：アドレスやポートの誤り、プロキシの停止、途中のファイアウォール。IT部門への問い合わせ
cause-proxy_unreachable-prevention = プロキシのアドレスは手入力ではなくポリシーや PAC ファイルで配布し、プロキシのポートを監視する

## 所見（docs/verdicts.md §5）。

finding-lockout_risk = ロックアウトの危険 (lockout_risk)
finding-lockout_risk-meaning = 拒否された認証の試行がロックアウトのしきい値に達した
finding-cleartext_basic = 平文の Basic 認証 (cleartext_basic)
finding-cleartext_basic-meaning = 暗号化されていないプロキシ接続で Basic の認証情報が送られた
finding-ntlm_fallback = Kerberos から NTLM への切り替え (ntlm_fallback)
finding-ntlm_fallback-meaning = Negotiate で Kerberos ではなく NTLM が使われた
finding-ntlmv1 = NTLMv1 (ntlmv1)
finding-ntlmv1-meaning = NTLMv1 の応答（弱い方式）
finding-stale_nonce = 期限切れのノンス (stale_nonce)
finding-stale_nonce-meaning = Digest の stale ノンスによるやり直し（問題なし）
finding-oversized_token = 大きすぎるトークン (oversized_token)
finding-oversized_token-meaning = 8 KiB を超える認証ヘッダー
finding-capture_gap = キャプチャの欠落 (capture_gap)
finding-capture_gap-meaning = エピソードがキャプチャの欠けたバイトをまたいだ

## 数える語。

n-episodes = { $n } 件のエピソード
n-users = { $n } 人
n-clients = { $n } 台
n-requests = { $n } 件のリクエスト
n-packets = { $n } パケット
n-limit-hits = { $n } 回の上限到達

## 表。

table-users = ユーザー上位
table-clients = クライアント上位
table-proxies = プロキシ上位
table-targets = 接続先上位
table-shown = { $title }（{ $total } 件中 { $shown } 件）
col-user = ユーザー
col-client = クライアント
col-proxy = プロキシ
col-target = 接続先
col-episodes = エピソード
col-auth = 成功
col-failed = 失敗
col-unresolved = 未確定
col-main-cause = 主な原因
col-max-10min = 最大/10分
col-auth-p50 = 認証 p50
col-clients = クライアント
col-users = ユーザー
col-findings = 所見

## 端末のレポート（HTML レポートの見出しも）。

report-title = proxy407：プロキシ認証の診断
report-capture = キャプチャ：{ $files } ファイル、{ $packets } パケット{ $when }
report-capture-when = 、{ $first } から { $last } まで（{ $span }）
heading-headline = 概要
headline-counts = 407 チャレンジ { $challenges }   エピソード { $episodes }   成功 { $authenticated }   失敗 { $failed }   未確定 { $unresolved }
headline-users = 影響を受けたユーザー { $affected } / { $seen }{ $unknown }   影響を受けたクライアント { $clients }
headline-unknown-user = （ほかにユーザー名のない失敗あり）
headline-all-good = 認証を求められて最後まで進んだクライアントは、すべてプロキシを通過した。
headline-most = 最も多い失敗：{ $cause }（{ $failed } 件中 { $n } 件）：{ $meaning }。
headline-failed = 失敗したエピソード { $n } 件。
headline-unresolved = 未確定：決め手となるメッセージが欠けている（欠落か、キャプチャの終わり）。失敗には数えない。
loss-gap-bytes = TCP の欠落で { $bytes } が欠けた
loss-truncated = スナップ長で切られた { $packets }
loss-dropped = カーネルが落とした { $packets }
loss-flow-limit = フローテーブルの { $hits }
loss-gap-episodes = 欠落をまたいだ { $episodes }
warn-lossy = 警告：キャプチャに欠落がある：
warn-lossy-list = { $list }。
warn-lossy-advice = 欠けたバイトは失敗したユーザーのように見える。アカウントを疑う前に、ミラーポート、スナップ長、取りこぼしを確認する。
warn-no-proxy = プロキシ接続が見つからない
warn-no-proxy-rest = （TCP 接続 { $n } 本の中に、407、CONNECT、絶対形式のリクエストがない）
warn-proxy-port = プロキシが独自のポートで待ち受けている場合は指定する：--proxy-port PORT（例：--proxy-port 8081）
warn-flood-only = プロキシのポートへの通信は、フラッドかスキャンによる接続の試みだけだった（下記）。
warn-tls = プロキシのポートへの接続 { $n } 本が TLS（HTTPS プロキシ）で、認証の内容は見えない。
warn-no-episode = エピソードなし：プロキシ接続 { $connections } 本のリクエスト { $requests } 件に 407 チャレンジはなかった。
heading-floods = 接続のフラッドとスキャン（クライアントには数えない）
flood-name = 接続のフラッドかスキャン
flood-one-syn = 、それぞれ SYN 1 回
flood-attempts = 、試行 { $n } 回
flood-more-than = {""}
flood-line = { $proxy } への{ $name }：送信元 { $more }{ $sources }{ $each }、{ $first } から { $last } まで
heading-causes = 原因別の失敗
cause-line = { $cause }  { $episodes }、{ $users }、{ $clients }
label-what = 内容：
label-remedy = 対処：
label-prevention = 予防：
heading-findings = 所見
finding-users = { $users }：{ $names }
finding-and-more = ほか { $n } 人
finding-requests = { $requests }（{ $episodes }）
none = なし
heading-schemes = 認証方式（エピソード数）
schemes-offered = 提示：
schemes-used = 使用：
heading-time-to-auth = 認証にかかった時間
tta-line = p50 { $p50 }   p95 { $p95 }   最大 { $max }   成功したエピソード { $n } 件
tta-none = 成功したエピソードなし
heading-health = キャプチャの状態
health-packets = パケット { $packets }（{ $bytes }）{ $links }
health-link-types = {"   "}リンク種別：{ $list }
health-connections = TCP 接続 { $tcp }   プロキシ接続 { $proxy }   プロキシへの TLS { $tls }   失敗した接続の試み { $failed }
health-http = リクエスト { $requests }   レスポンス { $responses }   407 { $r407 }   CONNECT { $connect }   認証情報付き { $credentialed }   応答なし { $unanswered }
health-truncated = 切り詰められたパケット { $n }
health-gap-bytes = 欠落バイト { $n }
health-decode-errors = デコードエラー { $n }
health-http-anomalies = HTTP の異常 { $n }
health-ip-fragments = IP フラグメント { $n }
health-flow-limit = フロー上限への到達 { $n }
health-kernel-dropped = カーネルの取りこぼし { $n }
health-encapsulations = カプセル化：{ $list }
health-mirror-packets = { $n } パケット
health-tls-hidden = プロキシのポートへの接続 { $n } 本が TLS（HTTPS プロキシ）で、認証の内容は見えず、エピソードにも含まれない。
health-no-loss = キャプチャに欠落は見当たらない
health-anomalies = 異常：
health-notices = 通知：

## HTML レポート。

html-heading-charts = グラフ
html-heading-tables = ユーザー、クライアント、プロキシ、接続先の上位
html-heading-failed = 失敗したエピソードとその証拠
html-sort-hint = 列の見出しをクリックすると表を並べ替えられる。
html-failed-none = 失敗したエピソードはない。
html-failed-kept = 失敗したエピソード { $seen } 件のうち、新しい { $kept } 件。
html-filter = 表示フィルター
html-generated = proxy407 がキャプチャのパケットから作成。パスワード、ハッシュ、トークンはこのレポートに含まれない。
html-no-failure = 失敗したエピソードはない。
html-no-data = 描くデータがない
html-tile-challenges = 407 チャレンジ
html-tile-episodes = エピソード
html-tile-authenticated = 成功
html-tile-failed = 失敗
html-tile-unresolved = 未確定
html-tile-users-affected = 影響を受けたユーザー
html-tile-median = 認証にかかった時間の中央値
html-chart-causes = 原因別の失敗
html-chart-timeline = 1 分ごとのチャレンジと失敗
html-chart-tta = 認証にかかった時間（パーセンタイル別）
html-legend-challenges = 407 チャレンジ
html-legend-failed = 失敗したエピソード
html-max = 最大
html-tta-samples = 成功したエピソード
html-ep-id = エピソード
html-ep-span = 開始、終了
html-ep-scheme = 使われた認証方式
html-ep-offered = 提示された認証方式
html-ep-steps = 経過
html-ep-steps-value = チャレンジ { $challenges } 回、認証の試行 { $attempts } 回、接続 { $connections } 本
html-ep-status = 最後のステータス
html-ep-detail = 詳細
html-ep-domain = ドメイン
html-ep-workstation = ワークステーション
html-ep-user-source = ユーザー名の出所
html-ep-user-agent = ユーザーエージェント
