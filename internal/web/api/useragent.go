package api

import (
	"strings"

	"github.com/querygate/querygate/internal/accounts"
)

// SessionResponse is a session as the API and the pages show it: with a
// device name people can read beside the stored user agent.
type SessionResponse struct {
	accounts.Session
	// Device is the browser and system the user agent names, such as
	// "Firefox on Linux" (DeviceName).
	Device string `json:"device"`
}

// NewSessionResponses adds a device name to each session.
func NewSessionResponses(list []accounts.Session) []SessionResponse {
	out := make([]SessionResponse, len(list))
	for i, x := range list {
		out[i] = SessionResponse{Session: x, Device: DeviceName(x.UserAgent)}
	}
	return out
}

// uaBrowsers and uaSystems map a marker of a user agent to a name, the
// first match winning: the order matters, as most browsers name others
// (Edge says Chrome and Safari; Chrome says Safari; Android says Linux;
// an iPhone says Mac OS X).
var (
	uaBrowsers = [][2]string{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"OPR/", "Opera"}, {"Vivaldi/", "Vivaldi"},
		{"SamsungBrowser/", "Samsung Internet"}, {"FxiOS/", "Firefox"}, {"Firefox/", "Firefox"}, {"CriOS/", "Chrome"},
		{"HeadlessChrome/", "Headless Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"},
		{"curl/", "curl"}, {"Wget/", "Wget"}, {"Go-http-client/", "Go program"}, {"python-requests/", "Python program"},
		{"node-fetch", "Node.js program"}, {"PostmanRuntime/", "Postman"},
	}
	uaSystems = [][2]string{
		{"Windows", "Windows"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Macintosh", "macOS"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"}, {"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
	}
)

// DeviceName names the browser and system of a user agent as people say
// it ("Firefox on Linux", "Safari on iOS"), from a short list of known
// markers. It returns only names from that list, or "Unknown device",
// never text of the user agent itself, so a forged one shows nothing of
// its own.
func DeviceName(ua string) string {
	var browser, system string
	for _, b := range uaBrowsers {
		if strings.Contains(ua, b[0]) {
			browser = b[1]
			break
		}
	}
	for _, s := range uaSystems {
		if strings.Contains(ua, s[0]) {
			system = s[1]
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "A browser on " + system
	}
	return "Unknown device"
}
