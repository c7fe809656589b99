// Package layers has no code: its test checks the module's import graph against the layers the project is built
// in (docs/architecture.md), so an import that runs back up the house fails make test and names itself.
package layers
