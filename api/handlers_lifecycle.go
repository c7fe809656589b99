package api

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/webhookd/webhookd/wire"
)

// CodeMessageExpunged is the code of a replay of a message whose payload was expunged.
const CodeMessageExpunged = wire.CodeMessageExpunged

// expungeMessage drops a message's payload for good and answers the message as the log now shows it.
func (s *server) expungeMessage(w http.ResponseWriter, r *http.Request, c *call) error {
	m, err := s.events.ExpungeMessage(r.Context(), c.tenant, mux.Vars(r)["msg"])
	if err != nil {
		return err
	}
	out := viewMessage(m)
	out.Data = json.RawMessage("null")
	writeJSON(w, http.StatusOK, out)
	return nil
}
