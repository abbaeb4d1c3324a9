// The project's own rules, loaded when `useCRS` is off: a small, blocking set (no anomaly
// scoring) for the attacks the issue names. Ids 10100–10199; remove one with
// `SecRuleRemoveById 10110` in secRules. Kept narrow so ordinary API traffic (JSON and
// form bodies, browser headers, analytics cookies) passes: test/fixtures/waf-corpus proves it.
export const DEFAULT_RULES = String.raw`
SecDefaultAction "phase:1,deny,status:403"
SecDefaultAction "phase:2,deny,status:403"

# Scanners and attack tools by User-Agent.
SecRule REQUEST_HEADERS:User-Agent "@pm sqlmap nikto nmap masscan zgrab nuclei dirbuster gobuster wfuzz acunetix netsparker openvas w3af arachni havij jbrofuzz skipfish wpscan joomscan whatweb zmeu hydra commix fimap brutus" \
  "id:10100,phase:1,t:none,deny,msg:'Security scanner User-Agent',logdata:'%{MATCHED_VAR}',tag:'scanner',severity:'CRITICAL'"

# Path traversal in the path, arguments and cookies.
SecRule REQUEST_URI_RAW|ARGS|REQUEST_COOKIES "@rx (?:^|[\\/])\.\.(?:[\\/]|$)" \
  "id:10110,phase:2,t:none,t:urlDecodeUni,t:urlDecodeUni,t:removeNulls,deny,msg:'Path traversal',logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}',tag:'traversal',severity:'CRITICAL'"
SecRule REQUEST_URI_RAW|ARGS "@rx (?i)(?:^|[\\/=])(?:etc[\\/](?:passwd|shadow|group|hosts)|proc[\\/]self[\\/]|windows[\\/]win\.ini|boot\.ini)" \
  "id:10111,phase:2,t:none,t:urlDecodeUni,t:normalisePathWin,deny,msg:'Access to an operating-system file',logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}',tag:'traversal',severity:'CRITICAL'"

# SQL injection.
SecRule ARGS|ARGS_NAMES|REQUEST_COOKIES|REQUEST_HEADERS:Referer|REQUEST_HEADERS:User-Agent "@detectSQLi" \
  "id:10120,phase:2,t:none,t:urlDecodeUni,t:removeNulls,t:replaceComments,deny,msg:'SQL injection',logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}',tag:'sqli',severity:'CRITICAL'"
SecRule QUERY_STRING|REQUEST_BODY "@detectSQLi" \
  "id:10121,phase:2,t:none,t:urlDecodeUni,t:removeNulls,deny,msg:'SQL injection',logdata:'%{MATCHED_VAR_NAME}',tag:'sqli',severity:'CRITICAL'"

# Cross-site scripting.
SecRule ARGS|ARGS_NAMES|REQUEST_COOKIES|REQUEST_HEADERS:Referer|REQUEST_HEADERS:User-Agent|REQUEST_FILENAME "@detectXSS" \
  "id:10130,phase:2,t:none,t:urlDecodeUni,t:htmlEntityDecode,t:jsDecode,t:removeNulls,deny,msg:'Cross-site scripting',logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}',tag:'xss',severity:'CRITICAL'"

# OS command injection: a shell separator or substitution, then a command with what a shell
# command has after it (an option, a path, a URL, another operator); commands that are rarely
# words of prose may also end the value. "Dogs; cat food" and "name|id" are not commands.
SecRule ARGS|REQUEST_COOKIES|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer "@rx (?i)(?:[;|&\x60]|\$\()\s*(?:/(?:usr/)?s?bin/)?(?:(?:cat|ls|id|rm|chmod|chown|ping|dig|python[23]?|perl|php|ruby|echo|nc|ncat|netcat|bash|sh|zsh|ksh|wget|curl|telnet|nslookup|base64|sleep|kill)(?:\s+[-/$~'\"]|\s+\.{1,2}/|\s+(?:https?|ftp)://|\s*[)\x60<>])|(?:whoami|uname|ifconfig|passwd|printenv|powershell|cmd\.exe|mkfifo|crontab)(?:\s|$|[;|&)\x60<>'\"]))" \
  "id:10140,phase:2,t:none,t:urlDecodeUni,t:removeNulls,deny,msg:'OS command injection',logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}',tag:'rce',severity:'CRITICAL'"
SecRule ARGS|REQUEST_COOKIES|REQUEST_HEADERS:User-Agent|REQUEST_HEADERS:Referer "@rx \$\{(?:jndi|env|sys|java|lower|upper|::-)[:}]|\(\)\s*\{\s*:\s*;\s*\}\s*;" \
  "id:10141,phase:2,t:none,t:urlDecodeUni,t:removeNulls,deny,msg:'Remote code execution (Log4Shell / Shellshock)',logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}',tag:'rce',severity:'CRITICAL'"
`;

/** The least the CRS needs when no crs-setup.conf is found: crs-setup.conf.example's active lines. */
export const MINIMAL_CRS_SETUP = String.raw`
SecDefaultAction "phase:1,log,auditlog,pass"
SecDefaultAction "phase:2,log,auditlog,pass"
SecAction "id:900990,phase:1,nolog,pass,t:none,setvar:tx.crs_setup_version=334"
`;
