// Renders each template of a JSON list (dump_templates.c's) with Go's text/template, as Ollama
// does, over three conversations; prints {"NAME": {"CONVERSATION": "text"}} as JSON.
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type message struct{ Role, Content string }

type row struct {
	Name string
	Go   string
	Stop []string
}

func main() {
	var rows []row
	if err := json.NewDecoder(os.Stdin).Decode(&rows); err != nil {
		panic(err)
	}
	sys := message{"system", "You are a helpful assistant."}
	u1 := message{"user", "Hello, how are you?"}
	a1 := message{"assistant", "I'm doing great. How can I help you today?"}
	u2 := message{"user", "I'd like to show off how chat templating works!"}
	convs := map[string][]message{
		"user":                         {u1},
		"user-assistant-user":          {u1, a1, u2},
		"system-user-assistant-user":   {sys, u1, a1, u2},
	}
	out := map[string]map[string]string{}
	for _, r := range rows {
		t, err := template.New(r.Name).Parse(r.Go)
		if err != nil {
			panic(r.Name + ": " + err.Error())
		}
		out[r.Name] = map[string]string{}
		for name, msgs := range convs {
			var b strings.Builder
			data := map[string]any{"Messages": msgs, "System": "", "Prompt": ""}
			if err := t.Execute(&b, data); err != nil {
				panic(r.Name + ": " + err.Error())
			}
			out[r.Name][name] = b.String()
		}
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
