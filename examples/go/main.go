// Command keeldesk is a template for putting keel in front of a Go service: an HTTP endpoint that
// screens each request with the firewall and hands what is left to the router.
//
//	POST /v1/route {"text": "...", "metadata": {...}}
//
// What the firewall blocks (an injection, a pasted secret) is refused: 403 with its decision and
// findings. Other PII is replaced by placeholders (<EMAIL_1>) before the router sees the text.
// The answer names the route, the tier that decided it, and the time each step took.
// Copy this directory, point the replace directive of go.mod at your keel checkout and adapt.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"keel"
)

// maxBodyBytes bounds a request body; the firewall has its own, much larger, limit.
const maxBodyBytes = 64 << 10

type routeRequest struct {
	Text     string         `json:"text"`
	Metadata map[string]any `json:"metadata,omitempty"` // feeds the routes' metadata conditions
}

type routeResponse struct {
	Route      *string   `json:"route"` // null when no route takes the request (tier "none")
	Tier       string    `json:"tier"`
	Confidence float64   `json:"confidence"`
	Redacted   *string   `json:"redacted,omitempty"` // the text the router saw, when PII was removed
	TimingsUS  timingsUS `json:"timings_us"`
}

type timingsUS struct {
	Firewall int64             `json:"firewall"` // the scan, measured here
	Router   keel.RouteTimings `json:"router"`   // per tier, measured by keel
}

type refusal struct {
	Error    string         `json:"error"`
	Decision string         `json:"decision"`
	Risk     float64        `json:"risk"`
	Findings []keel.Finding `json:"findings"`
}

// deskHandler serves /v1/route. The firewall and the router are safe for concurrent use, so one
// of each serves every request.
type deskHandler struct {
	fw     *keel.Firewall
	router *keel.Router
}

// newDeskHandler returns the service's handler; the caller keeps ownership of fw and router.
func newDeskHandler(fw *keel.Firewall, router *keel.Router) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/route", &deskHandler{fw: fw, router: router})
	return mux
}

func (h *deskHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	var req routeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body over 64 KiB")
		} else {
			writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		}
		return
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad JSON body: one object expected")
		return
	}
	if req.Text == "" {
		writeError(w, http.StatusBadRequest, `"text" is required`)
		return
	}

	// One scan gives the decision, the findings and the redacted text.
	start := time.Now()
	verdict, err := h.fw.Scan(req.Text, keel.Input)
	scanUS := time.Since(start).Microseconds()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if verdict.Decision == "block" {
		writeJSON(w, http.StatusForbidden, refusal{Error: "refused by the firewall",
			Decision: verdict.Decision, Risk: verdict.Risk, Findings: verdict.Findings})
		return
	}
	text, redacted := req.Text, (*string)(nil)
	if verdict.Redacted != nil && *verdict.Redacted != req.Text {
		text, redacted = *verdict.Redacted, verdict.Redacted
	}

	// The request's context cancels a model call (the llm tier) when the client goes away.
	result, err := h.router.Route(r.Context(), text, req.Metadata)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, keel.ErrCancelled) || errors.Is(err, keel.ErrTimeout) {
			status = http.StatusServiceUnavailable // the client left, or the deadline passed
		}
		writeError(w, status, err.Error())
		return
	}
	resp := routeResponse{Tier: result.Tier, Confidence: result.Confidence, Redacted: redacted,
		TimingsUS: timingsUS{Firewall: scanUS, Router: result.TimingsUS}}
	if result.Tier != "none" {
		resp.Route = &result.Route
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "<EMAIL_1>", not "\u003cEMAIL_1\u003e"
	if err := enc.Encode(body); err != nil {
		log.Printf("writing response: %v", err)
	}
}

func writeError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}

func main() {
	addr := flag.String("addr", ":8080", "address to listen on")
	routesPath := flag.String("routes", "../data/routes.json", "routes file for the router")
	flag.Parse()

	fw, err := keel.NewFirewall("") // keel's default configuration
	if err != nil {
		log.Fatalf("firewall: %v", err)
	}
	routes, err := os.ReadFile(*routesPath)
	if err != nil {
		log.Fatalf("routes: %v", err)
	}
	router, err := keel.NewRouter(string(routes)) // embeds every utterance before it returns
	if err != nil {
		log.Fatalf("router: %s: %v", *routesPath, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: *addr, Handler: newDeskHandler(fw, router),
		ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	log.Printf("keel %s: listening on %s", keel.Version(), *addr)

	select {
	case err := <-serveErr: // could not listen
		log.Fatalf("serve: %v", err)
	case <-ctx.Done():
	}
	stop() // a second signal kills the process at once
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Handlers may still be running: leave the firewall and router open, the process ends.
		log.Printf("shutdown: %v", err)
		return
	}
	// No handler runs any more: free keel's handles.
	router.Close()
	fw.Close()
	log.Print("stopped")
}
