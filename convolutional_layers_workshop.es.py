# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Explorando capas convolucionales a través de datos y experimentos
#
# ¿Qué calcula una capa convolucional y qué te aporta con imágenes? Este taller responde ambas preguntas con
# Fashion-MNIST: primero escribiendo la capa a mano y comparándola con PyTorch, y luego con experimentos controlados
# en los que dos modelos difieren en una sola cosa, con varias semillas y una prueba estadística de verdad para decir
# si hay una diferencia. Una *CNN* (red neuronal convolucional) es una red hecha sobre todo de capas
# convolucionales; el *modelo denso* con el que se compara solo tiene capas totalmente conectadas (cada
# salida conectada a cada entrada). Una ejecución usa uno de tres *perfiles*, presupuestos de semillas, épocas e imágenes (las
# palabras se definen abajo): `full` entrena 7 semillas por CNN; `quick`, el predeterminado en una laptop, entrena 3
# para sus preguntas principales (la CNN frente al modelo denso, el tamaño del kernel), así que tu propia ejecución
# también llega a veredictos, y sus tablas muestran además los de la ejecución completa guardada en el repositorio.
#
# **Cómo leerlo.** Cada sección es una pequeña lección:
# 1. una **pregunta**, y una invitación a **predecir** la respuesta antes de ejecutar la celda (anota tu suposición:
#    la idea es descubrir dónde se equivoca tu intuición);
# 2. una celda de código corta cuya **figura o tabla** la responde, seguida de unas pocas frases generadas a partir
#    de los números de esta ejecución;
# 3. **por qué**: el mecanismo detrás de la respuesta, que se cumple sean cuales sean los números de esta ejecución.
#    Donde el *resultado* podría variar entre ejecuciones, el texto dice qué buscar en lugar de anunciarlo.
#
# Los **ejercicios** (✏️) tienen una celda para completar, una verificación que dice ***correcto*** o ***todavía
# no*** con una pista, y una solución oculta. *Ejecutar todo* (Run All) funciona con los ejercicios sin completar.
#
# **Contenido.** 0 Configuración · 1 La pregunta · 2 Los datos · 3 Un modelo denso de referencia y el bucle de
# entrenamiento · 4 La capa convolucional a mano · 5 La CNN · 6 Experimentos controlados · 7 Evidencia del sesgo
# inductivo · 8 Interpretación · 9 Guardar los pesos · 10 Exportación a ONNX · 11 Despliegue · 12 Resumen y
# referencias.
# Las secciones 9–11 son para quienes reutilizan el modelo entrenado; quien está aprendiendo puede detenerse después
# de la sección 8.
#
# **Algunas palabras que se usan en todo el taller** (el glosario de abajo lista cada término con la sección que lo
# define). El valor de un *píxel* va de 0 (negro) a 255 (blanco). Los *parámetros* (parameters) de una red, o pesos
# (weights), son los números que ajusta el entrenamiento; una *unidad* (unit) es un número de salida de una capa (una
# neurona); una *época* (epoch) es una pasada por las imágenes de entrenamiento; una *semilla* (seed) fija las
# elecciones aleatorias de una ejecución (los pesos iniciales, el orden de las imágenes), de modo que dos semillas dan
# dos repeticiones honestas del mismo experimento. *ReLU* es max(0, x) aplicado después de una capa, lo que hace que
# la red sea no lineal; el *dropout* pone a cero al azar algunas unidades durante el entrenamiento para que la red no
# pueda depender de ninguna en particular. Las salidas de la red son diez puntuaciones (*logits*), una por clase;
# *softmax* las convierte en probabilidades, y la pérdida de *entropía cruzada* (cross-entropy) es
# −ln(probabilidad de la clase verdadera). El entrenamiento le muestra a la red un *lote* (batch) de imágenes a la
# vez (256 aquí), calcula la pérdida y la *retropropaga* (back-propagates): calcula su *gradiente* (gradient), cuánto
# cambia la pérdida con cada peso. Luego el *optimizador* (optimiser) cambia los pesos para reducir la pérdida: el
# descenso de gradiente simple (sección 4.9) mueve cada peso en contra de su gradiente, escalado por la *tasa de
# aprendizaje* (learning rate); AdamW, que se usa en todos los modelos aquí, además mantiene un promedio móvil de los
# gradientes pasados (momentum) y escala el paso de cada peso según el tamaño de sus gradientes recientes. La
# *cabeza* (head) de una red son sus últimas capas, que convierten las características en las diez puntuaciones. Un
# `assert` en una celda verifica una derivación a mano contra PyTorch: si alguno falla, el error está en el texto,
# no en ti.
#
# **Glosario** (con los términos del curso original y su equivalente en inglés).
#
# | término | inglés | qué es | definido en |
# |---|---|---|---|
# | kernel (núcleo) | kernel | una pequeña cuadrícula de pesos (k×k) que se desliza sobre un canal de entrada | 4.1 |
# | filtro | filter | un kernel por canal de entrada, sumados: produce un canal de salida | 4.1, 4.6 |
# | canal | channel | cada mapa apilado en la entrada o salida de una capa (una imagen en grises tiene uno) | 4.1 |
# | mapa de características | feature map | un canal de salida: dónde se encuentra el patrón de su filtro | 4.1 |
# | relleno | padding | ceros que se agregan alrededor del borde antes de deslizar el kernel | 4.1, 4.4 |
# | paso | stride | cuántos píxeles salta el kernel entre dos posiciones | 4.4 |
# | pooling (agrupamiento) | pooling | un número por ventana de un mapa: su máximo o su media | 4.7 |
# | campo receptivo | receptive field | la ventana de píxeles de entrada de la que depende una unidad | 4.7 |
# | equivarianza, invariancia | equivariance, invariance | la salida se mueve con la entrada; no cambia | 4.8 |
# | normalización por lotes (batch norm) | batch normalisation | estandariza cada canal por lote y reescala | 5.1 |
# | época, semilla, lote | epoch, seed, batch | pasada por los datos; azar de la ejecución; imágenes por iteración | arriba |
# | precisión | accuracy | fracción de imágenes clasificadas bien (en rigor «exactitud»; aquí «precisión», como en el curso original) | 2.1 |
# | tasa de aprendizaje | learning rate | el tamaño de las actualizaciones del optimizador | arriba, 4.9 |
# | aumento de datos | augmentation | cambios al azar (volteos, desplazamientos) que conservan la etiqueta | 3.2 |
# | conjunto de validación | validation set | imágenes apartadas para elegir ajustes; nunca el de prueba | 3.3 |
# | brazo | arm | un lado de una comparación: un modelo y una receta, entrenados con varias semillas | 3.3 |
# | intervalo de confianza (IC) | confidence interval | rango construido para que 95 de cada 100 contengan el valor real | 3.4 |
# | valor p; familia | p-value; family | probabilidad de que el azar por sí solo dé tal diferencia; pruebas corregidas juntas | 3.4, 6 |
# | prueba de equivalencia (TOST) | equivalence test | muestra que una diferencia cae en un margen (±0.5 puntos) | 6 |
# | potencia (estadística) | power | la probabilidad de que una prueba detecte una diferencia de un tamaño dado | 6 |
# | similitud coseno | cosine similarity | coseno del ángulo entre dos vectores: 1 parecidos, 0 sin relación | 5.5 |
# | sesgo inductivo | inductive bias | supuestos que trae un modelo (localidad, pesos compartidos, jerarquía) | 1, 7 |
# | entropía | entropy | qué tan mezcladas están unas etiquetas, en bits: 0 = una clase, 3.3 = las diez igual | 7.4 |
#
# Todo el código reutilizable está en el paquete probado `conv_workshop/`; el notebook muestra en sus propias celdas
# el código que enseña (los modelos, la capa, el pooling, el bucle de entrenamiento, Grad-CAM), y unas pruebas
# verifican que es igual al del paquete.
# *English edition: [convolutional_layers_workshop.ipynb](convolutional_layers_workshop.ipynb) · README en español: [README.es.md](README.es.md).*

# %% [markdown]
# ## 0. Configuración
#
# **Parámetros.** `PROFILE` elige el presupuesto: `smoke` (un subconjunto pequeño, minutos, lo que ejecuta la CI),
# `quick` (el predeterminado en una CPU, con un presupuesto de 15 minutos en 2 núcleos) o `full` (el predeterminado
# en CUDA; la ejecución guardada en el repositorio, con un presupuesto de 90 minutos en 2 núcleos de CPU). Una
# ejecución toma todas las ejecuciones ya registradas en su carpeta y entrena solo lo que falta, así que una
# ejecución interrumpida continúa donde se detuvo. `REPLAY = True` vuelve a generar la salida a partir de los
# registros de este perfil y no entrena nada nuevo; `RESUME = False` aparta los registros y empieza de cero. Si se
# dejan en `None`, cada uno se toma del entorno (el README explica los tres). `LANGUAGE` es el idioma del texto que
# genera el paquete: si se deja en `None`, es el de esta edición (español); la edición en inglés,
# [convolutional_layers_workshop.ipynb](convolutional_layers_workshop.ipynb), genera inglés.

# %% tags=["parameters"]
PROFILE = None  # "smoke" | "quick" | "full"; None: $WORKSHOP_PROFILE, si no, full en CUDA y quick en lo demás
REPLAY = None  # True: regenera desde las ejecuciones registradas en vez de volver a entrenar todo; None: $WORKSHOP_REPLAY
RESUME = None  # False: aparta los registros y empieza de cero; None: $WORKSHOP_RESUME (por defecto: los toma)
LANGUAGE = None  # "en" | "es": el idioma del texto generado; None: $WORKSHOP_LANGUAGE, si no, el de esta edición

# %% [markdown]
# **El entorno.** La siguiente celda se asegura de que el paquete del taller esté disponible (en un clon del
# repositorio lo está; un notebook descargado o alojado en línea lo instala, fijado a la versión de este notebook,
# desde `WORKSHOP_PACKAGE`: consulta "Fuera del repositorio" en el README). Luego verifica cada paquete que el
# notebook va a necesitar, incluidos los de las secciones 8–11, contra los rangos de `requirements.txt`: si falta
# alguno o está fuera de rango, dice cuál, con el comando que lo instala, y se detiene ahí en lugar de fallar más
# tarde.

# %%
import importlib.util
import os
import subprocess
import sys

WORKSHOP_PACKAGE = os.environ.get("WORKSHOP_PACKAGE", "conv-workshop==1.0.0")  # un wheel, una carpeta o una URL de git
if importlib.util.find_spec("conv_workshop") is None:  # no es un clon del repositorio ni está instalado: se instala primero
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", WORKSHOP_PACKAGE])
    if installed.returncode != 0:
        raise SystemExit(f"could not install {WORKSHOP_PACKAGE}: set WORKSHOP_PACKAGE (see the README)")
    importlib.invalidate_caches()  # para que este kernel en ejecución vea el paquete recién instalado
from conv_workshop.environment import require_environment

packages = require_environment()  # se detiene aquí, una línea por paquete faltante con el comando que lo instala

# %% [markdown]
# Una sola llamada elige el dispositivo y su aritmética: CUDA, Apple MPS o la CPU en *bf16* (bfloat16, un formato
# numérico de 16 bits con el rango de float32 y menos dígitos) donde el procesador lo calcula de forma nativa, y si
# no en *fp32* (números de punto flotante de 32 bits corrientes). Carga los datos y empieza a registrar cada
# ejecución de entrenamiento en `results/`. La tabla indica en qué se hizo esta ejecución, con las versiones en uso
# junto a las de `requirements.lock`: un número solo es tan confiable como las versiones, el dispositivo y las
# semillas que lo respaldan.

# %%
import copy
import itertools
import json

import pandas as pd
import torch
import torch.nn.functional as F
from IPython.display import display
from torch import nn

from conv_workshop import stats
from conv_workshop.data import CLASS_NAMES, to_float_pixels
from conv_workshop.experiments import catalogue
from conv_workshop.i18n import label, translate
from conv_workshop.inspection import analysis, attribution, probes
from conv_workshop.lesson import by_hand, exercises
from conv_workshop.models import ConvConfig, ConvNet, DenseBaseline, Normalize, PixelPermutation, layer_summary
from conv_workshop.reporting import findings, plots, tables
from conv_workshop.reporting.display import show_markdown, use_notebook_display
from conv_workshop.session import start_session
from conv_workshop.training import predict_logits

lab = start_session(PROFILE, REPLAY, RESUME, LANGUAGE, edition="es")
use_notebook_display()
torch.manual_seed(0)  # las celdas que generan números aleatorios antes de entrenar (cada ejecución fija su propia semilla)
data, splits = lab.data, lab.splits
display(lab.setup_table(packages))
show_markdown(findings.describe_profile(lab.profile, lab.full_run_found()))

# %% [markdown]
# ## 1. La pregunta
#
# Una capa densa (totalmente conectada) trata una imagen de 28×28 como 784 números sin relación entre sí: cada unidad
# de salida tiene su propio peso para cada píxel. Una capa convolucional, en cambio, hace tres supuestos sobre las
# imágenes:
#
# - **localidad**: una unidad mira solo una ventana pequeña (aquí, de 3×3 píxeles), porque los píxeles cercanos van
#   juntos;
# - **pesos compartidos**: se usa el mismo kernel pequeño en cada posición, porque un borde es un borde esté donde
#   esté, lo que hace que la capa sea **equivariante a la traslación** (desplaza la entrada y la salida se desplaza de
#   la misma forma);
# - **jerarquía**: las capas apiladas ven ventanas cada vez más grandes, así que los patrones simples se combinan en
#   partes de prendas.
#
# Este notebook mide si esos supuestos valen la pena:
#
# 1. ¿Cómo calcula una convolución su salida y cuánto cuesta eso? (sección 4)
# 2. ¿Es la CNN mejor que una red densa entrenada con la misma receta, y por cuánto? (secciones 3 y 5)
# 3. ¿Qué cambian el tamaño del kernel, la profundidad, la reducción de resolución, el relleno, el pooling, la
#    anchura, la normalización por lotes, la cabeza y el aumento de datos, más allá del ruido entre semillas?
#    (sección 6)
# 4. ¿Se debe la ventaja de la CNN a la estructura espacial: imágenes desplazadas, píxeles permutados, menos datos?
#    (sección 7)
# 5. ¿A qué responden los filtros y las unidades, y se puede reutilizar el resultado? (secciones 5.5, 7.4, 8–11)

# %% [markdown]
# ## 2. Los datos
#
# ### 2.1 Lo que ve el modelo
#
# **Pregunta.** Fashion-MNIST (Xiao et al., 2017) tiene 70,000 imágenes de 28×28 en escala de grises de 10 tipos de
# ropa. ¿Cuántas imágenes hay por clase y cómo se ven como números?
#
# **Predice.** ¿Están balanceadas las clases? ¿La prenda es oscura sobre fondo claro, o clara sobre fondo oscuro?

# %%
counts = analysis.class_counts(data.train_labels, CLASS_NAMES)
lab.show_figure(plots.class_balance(counts), "eda_class_balance")
lab.show_figure(plots.sample_grid(data.train_images, data.train_labels, CLASS_NAMES), "eda_samples")
show_markdown(findings.describe_dataset(data, lab.splits, lab.profile.name, counts))  # los tamaños de las particiones de esta ejecución

# %% [markdown]
# **Por qué importa.** Con clases balanceadas, la precisión (accuracy) es un resumen justo y no hace falta ponderar
# las clases. Las imágenes son prendas claras sobre un fondo negro (píxel 0): eso es lo que aprende el modelo, así que
# una foto de producto (prenda oscura sobre blanco) debe invertirse antes de que el modelo pueda leerla (sección 11).
# Las imágenes de *validación*, separadas del conjunto de entrenamiento, sirven para elegir épocas y modelos; el
# conjunto de *prueba* solo se usa para reportar, para que ninguna elección se ajuste a él.

# %% [markdown]
# ### 2.2 ¿Basta con el brillo?
#
# **Pregunta.** ¿Podría un modelo distinguir las clases por cuánta "tinta" tiene una imagen (cuántos píxeles no son
# negros)?
#
# **Predice.** ¿Qué clase cubre más píxeles y cuál menos? ¿Se solapan los rangos de dos clases?

# %%
intensity = analysis.intensity_summary(data.train_images, data.train_labels, CLASS_NAMES)
lab.show_figure(plots.intensity_distributions(data.train_images, data.train_labels, CLASS_NAMES), "eda_intensity")
display(tables.intensity(intensity))
show_markdown(findings.describe_ink(intensity, data.train_images))

# %% [markdown]
# **Por qué.** Un estadístico global como el número de píxeles con tinta solo puede separar clases cuyas
# distribuciones en el panel derecho apenas se solapan: prendas de tamaño muy distinto (una sandalia y un abrigo, e
# incluso esas se solapan en los extremos), no prendas del mismo tamaño y contorno (una camisa y un suéter). Esas se
# diferencian en *dónde* está la tinta, no en cuánta hay.

# %% [markdown]
# ### 2.3 ¿Qué clases se parecen?
#
# **Pregunta.** Promedia todas las imágenes de entrenamiento de una clase: ¿qué medias de clase están más cerca entre
# sí?
#
# **Predice.** ¿Qué par de clases confundirán los modelos con más frecuencia? La sección 5.3 comprueba tu suposición.

# %%
lab.show_figure(plots.mean_images(analysis.class_means(data.train_images, data.train_labels), CLASS_NAMES),
         "eda_class_means")
distances = analysis.class_mean_distances(data.train_images, data.train_labels, CLASS_NAMES)
lab.show_figure(plots.distance_heatmap(distances), "eda_class_distances")
closest = analysis.closest_class_pairs(distances)
closest.round(1)

# %% [markdown]
# **Por qué.** La media de una clase es una plantilla. Los primeros pesos de una capa densa *pueden* actuar como un
# conjunto de plantillas así, comparadas con la imagen completa (este notebook no muestra que lo hagan), de modo que
# las clases cuyas plantillas casi coinciden son donde es probable que falle un modelo que compara imágenes completas,
# y donde deben decidir los detalles locales (un cuello, unos botones, un cierre).

# %% [markdown]
# ### 2.4 La mejor vista lineal
#
# **Pregunta.** El análisis de componentes principales (PCA) encuentra las dos direcciones del espacio de píxeles a
# lo largo de las cuales las imágenes varían más, y dibuja cada imagen como un punto sobre ellas. En esa vista, ¿qué
# clases quedan aparte? Medimos "aparte" con la **pureza**: la proporción de los 20 vecinos más cercanos de un punto
# en esta vista que son de su misma clase (1 = aparte, alrededor de 0.1 = mezclada entre las diez clases).
#
# **Predice.** Calzado, pantalones, bolsos, prendas superiores: ¿qué grupos se separan? (El gráfico dibuja 6,000
# imágenes de entrenamiento al azar, suficientes para ver los grupos sin que queden ocultos unos bajo otros.)

# %%
sample = torch.randperm(len(data.train_labels), generator=torch.Generator().manual_seed(0))[:6000]
coordinates, explained = analysis.pca_projection(data.train_images[sample])
lab.show_figure(plots.pca_scatter(coordinates, data.train_labels[sample], CLASS_NAMES, explained), "eda_pca")
purity = analysis.neighbour_purity(coordinates, data.train_labels[sample], CLASS_NAMES)
show_markdown(findings.describe_pca(purity, explained))

# %% [markdown]
# **Por qué.** Dos direcciones conservan solo las variaciones más grandes y globales (el tamaño y el brillo generales,
# las prendas superiores frente al calzado). Las clases mezcladas en esta vista 2-D todavía pueden ser separables
# usando las otras 782 direcciones, pero las diferencias entre ellas son más pequeñas y más locales: un cuello, un
# cierre, el largo de una manga. Las convoluciones están hechas justamente para encontrar esos patrones locales,
# estén donde estén.
#
# ✏️ **Ejercicio 2.1.** La sección 7.1 desplazará las prendas hacia los lados. ¿Qué fracción de las imágenes de
# entrenamiento ya toca el borde izquierdo o el derecho (un píxel distinto de cero en la primera o en la última
# columna)? La verificación la quiere exacta hasta el cuarto decimal: si cuentas un solo borde, el error puede ser menor
# que 0.001.

# %%
my_edge_share = None  # reemplaza None por un número entre 0 y 1, calculado a partir de data.train_images
print(exercises.check("edge share", my_edge_share, images=data.train_images))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# first, last = data.train_images[:, :, 0], data.train_images[:, :, -1]  # primera y última columna de cada imagen
# my_edge_share = float(((first > 0).any(1) | (last > 0).any(1)).float().mean())
# ```
# Una prenda que ya toca un borde pierde parte de sí misma cuando se desplaza fuera del encuadre.
# </details>

# %% [markdown]
# ## 3. Un modelo denso de referencia y el bucle de entrenamiento
#
# ### 3.1 El modelo
#
# **Pregunta.** El modelo de referencia aplana la imagen y aplica 784 → 128 → 64 → 10 con ReLU y dropout 0.2.
# ¿Cuántos parámetros son y dónde están?
#
# **Predice.** ¿Qué capa concentra la mayoría?
#
# Aquí está como código de PyTorch. `Normalize` resta el píxel medio de las imágenes de entrenamiento y divide por su
# desviación estándar, dentro del modelo, para que quien lo reutilice le envíe píxeles escalados a [0, 1] (el valor de 0 a 255 dividido
# entre 255);
# `nn.Flatten` convierte cada imagen de 28×28 en 784 números. Luego la celda verifica que es el `DenseBaseline` del
# paquete, el modelo que se entrena más abajo: las mismas capas, y las mismas salidas una vez que tiene los pesos del
# modelo del paquete.

# %%
class Dense(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


# %%
mine, package = Dense().eval(), DenseBaseline().eval()
mine.load_state_dict(package.state_dict())  # falla a menos que cada capa tenga el mismo nombre y la misma forma
torch.testing.assert_close(mine(to_float_pixels(data.test_images[:8])), package(to_float_pixels(data.test_images[:8])))
print(mine)

# %% [markdown]
# ✏️ **Ejercicio 3.1.** Antes de ejecutar la siguiente celda, cuéntalos a mano: una capa lineal de *n* a *m*
# unidades tiene *n × m* pesos más *m* sesgos.

# %%
my_dense_parameters = None  # reemplaza None por un número entero
print(exercises.check("dense parameters", my_dense_parameters))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_dense_parameters = (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)
# ```
# </details>
#
# La tabla lista cada capa con la forma de su salida, sus parámetros y sus multiplicaciones-acumulaciones por imagen
# (*MACs*: una multiplicación y una suma cada una, la unidad de cómputo que se usa en todo el taller; "M" = millones).

# %%
tables.layers(layer_summary(Dense()))

# %% [markdown]
# **Por qué.** La primera capa, con un peso por píxel por unidad, domina. No tiene ninguna noción de qué píxeles son
# vecinos: reordena las 784 entradas de la misma manera en todas las imágenes, reordena sus pesos para que coincidan,
# y calcula exactamente la misma función (la sección 7.2 pone a prueba qué hace el entrenamiento con eso).

# %% [markdown]
# ### 3.2 El bucle de entrenamiento, a la vista
#
# **Pregunta.** ¿Qué pasa en una época de entrenamiento? Todo bucle de entrenamiento de PyTorch tiene los mismos cinco
# pasos por lote, listados aquí en desorden: dar un paso del optimizador, retropropagar, ejecutar el modelo hacia
# adelante, borrar los gradientes anteriores, calcular la pérdida.
#
# **Predice.** Antes de cualquier entrenamiento, ¿cuál debería ser la pérdida con 10 clases? (Un modelo que no sabe
# nada le da a cada clase probabilidad 1/10.)
#
# ✏️ **Ejercicio 3.2.** Antes de leer el bucle de abajo: ¿en qué orden se ejecutan esos cinco pasos?

# %%
my_steps = None  # una lista con los nombres "zero_grad", "forward", "loss", "backward" y "step", en orden
print(exercises.check("training step order", my_steps))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_steps = ["zero_grad", "forward", "loss", "backward", "step"]
# ```
# `zero_grad` también puede ir al final (después de `step`): lo que importa es que los gradientes se borren entre dos
# llamadas a `backward`, porque PyTorch suma los gradientes nuevos a los anteriores.
# </details>
#
# Aquí está el bucle (`to_float_pixels` convierte imágenes uint8 de N×28×28 en floats de N×1×28×28 en [0, 1]):

# %%
def train_epoch(model, images, labels, optimizer, batch_size=256, seed=0):
    model.train()  # dropout activado (y la normalización por lotes, más adelante, usa las estadísticas de cada lote)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))  # un orden fijado por la semilla
    for batch in order.split(batch_size):
        optimizer.zero_grad()  # 1. olvida los gradientes del lote anterior (PyTorch suma los nuevos a los anteriores)
        loss = F.cross_entropy(model(to_float_pixels(images[batch])), labels[batch])  # 2. pasada hacia adelante, 3. pérdida
        loss.backward()  # 4. el gradiente de la pérdida respecto a cada peso
        optimizer.step()  # 5. cambia cada peso usando su gradiente


# %% [markdown]
# Una época de este bucle con el modelo denso de referencia, midiendo la pérdida antes y la precisión después:

# %%
torch.manual_seed(0)
plain = Dense()
initial_loss = by_hand.evaluate_loss(plain, splits.val_images, splits.val_labels)
train_epoch(plain, splits.train_images, splits.train_labels, torch.optim.AdamW(plain.parameters(), lr=1e-3))
plain_accuracy = by_hand.accuracy(plain, splits.val_images, splits.val_labels)

# %% [markdown]
# ✏️ **Ejercicio 3.3.** Escribe la precisión que acaba de medir esa celda: `my_accuracy(model, images, labels)`
# devuelve la proporción de imágenes (uint8, N×28×28) cuyo logit más alto es la etiqueta. Trabaja en modo de evaluación
# (dropout desactivado) y sin gradientes. La verificación la ejecuta con modelos e imágenes propios: de 1 a 1,300
# imágenes, con el modelo entregado en modo de entrenamiento; si divides las imágenes en lotes, todos los lotes deben
# contar.

# %%
def my_accuracy(model, images, labels):
    # la proporción de imágenes cuya clase con la puntuación más alta es su etiqueta (un float entre 0 y 1)
    raise NotImplementedError(translate("exercise 3.3: replace this line"))


print(exercises.check("accuracy", my_accuracy))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# def my_accuracy(model, images, labels):
#     model.eval()  # dropout desactivado: el modelo responde igual cada vez
#     with torch.no_grad():  # no hacen falta gradientes para evaluar
#         predictions = model(to_float_pixels(images)).argmax(1)  # la clase con el logit más alto
#     return float((predictions == labels).float().mean())
# ```
# </details>

# %% [markdown]
# A partir de aquí, `fit()` del paquete ejecuta este mismo bucle con algunos añadidos que necesita un experimento
# cuidadoso: una semilla para cada elección aleatoria, una tasa de aprendizaje que sube y luego baja durante la
# ejecución (el esquema "one-cycle"), *aumento de datos* (augmentation) opcional (volteos aleatorios de izquierda a
# derecha o pequeños desplazamientos de las imágenes de entrenamiento, que conservan sus etiquetas; desactivado aquí),
# validación unas cuantas veces por ejecución conservando los mejores pesos, y aritmética más rápida (floats de 16
# bits donde el hardware los tiene). Una época de `fit()` a partir de los mismos pesos iniciales, sin aumento de
# datos:

# %%
from conv_workshop.training import TrainConfig, fit

torch.manual_seed(0)
fitted = DenseBaseline()  # los mismos pesos iniciales que `plain` de arriba
fit(fitted, splits, TrainConfig(epochs=1), lab.runtime, progress=False)
show_markdown(findings.describe_training_loop(initial_loss, plain_accuracy, by_hand.accuracy(fitted, splits.val_images,
                                                                          splits.val_labels)))

# %% [markdown]
# **Por qué.** La pérdida inicial es una comprobación de cordura (la primera de CS231n): la entropía cruzada de una
# suposición uniforme es ln 10 ≈ 2.30, así que una pérdida inicial muy distinta significa un error en los datos o en
# el modelo. Las dos precisiones pueden diferir porque difieren las recetas, no el bucle: la tasa de aprendizaje de
# `fit()` sube hasta 3×10⁻³ y vuelve a bajar, mientras que el bucle simple se mantiene en 10⁻³, y `fit()` puede
# calcular con floats de 16 bits. Más adelante, la precisión de entrenamiento que informa `fit()` es un promedio móvil
# tomado mientras los pesos todavía cambian, con dropout activado (y aumento de datos, donde se usa), y por eso puede
# quedar por debajo de la precisión de validación.

# %% [markdown]
# ### 3.3 La receta, elegida con datos de validación
#
# **Pregunta.** ¿Con qué aumento de datos debe entrenar el modelo denso: ninguno, volteos aleatorios de izquierda a
# derecha, o desplazamientos aleatorios de hasta 2 píxeles en cada dirección? Una receta que le sirve a un modelo y
# perjudica a otro haría injusta cualquier comparación posterior, así que cada modelo recibe el aumento de datos que
# mejor le sienta, elegido con el **conjunto de validación** (validation set: 5,000 imágenes de entrenamiento
# reservadas; el conjunto de prueba nunca se usa para elegir nada).
#
# **Predice.** Las prendas de Fashion-MNIST están centradas, y todos sus zapatos apuntan hacia el mismo lado. ¿Qué
# aumento de datos ayudará al modelo denso, si es que alguno ayuda?
#
# Cada *brazo* (arm: un aumento de datos) se entrena con varias semillas sobre las 10,000 imágenes de entrenamiento de
# los experimentos (la sección 6 explica ese subconjunto) y con su presupuesto más corto (las últimas columnas de la
# tabla dicen cuál); la precisión media de validación elige la receta. Estas precisiones son más bajas que las del
# modelo de referencia de la sección 3.4, que entrena con toda la partición de entrenamiento y durante más tiempo: la
# elección compara los tres brazos entre sí, no con tablas posteriores. La receta
# de la CNN se elige de la misma manera en la sección 5.2.

# %%
dense_recipe = lab.choose_augmentation("dense")  # ninguno, volteos, desplazamientos: entrenados con las imágenes de los experimentos
display(tables.recipe_choice(dense_recipe))
show_markdown(findings.describe_recipe(dense_recipe, "dense model"))

# %% [markdown]
# **Por qué validación y no prueba.** Elegir el mejor de tres con el conjunto de prueba haría optimista la puntuación
# de prueba: parte de la ventaja del ganador sería suerte con esas imágenes de prueba en particular, y no quedaría
# nada con qué medirla honestamente. La sección 6.9 pone a prueba después los tres aumentos de datos con el conjunto
# de prueba, como un hallazgo y no como una elección.
#
# ### 3.4 Cuánto debe entrenar el modelo de referencia
#
# **Pregunta.** La CNN entrenará durante un número fijo de épocas. ¿Basta también para el modelo denso, o una
# comparación con las mismas épocas favorecería a la CNN? **Predice.** ¿Gana algo el modelo denso con el triple de
# épocas?
#
# La celda entrena el modelo denso de referencia con su receta y el triple de las épocas de la CNN, y con el mismo
# número de épocas que la CNN, cada uno con varias semillas, con toda la partición de entrenamiento, y los compara.
#
# **Cómo leer una tabla de efectos** (esta es la primera; todas las comparaciones que siguen tienen las mismas
# columnas). "± x" después de una precisión es la desviación estándar entre semillas. La columna "diferencia" es cada variante menos la primera
# fila, con su *intervalo de confianza* (confidence interval) del 95 % ("IC 95 %": un rango calculado de modo que, en
# muchas repeticiones del experimento, 95 de cada 100 de esos rangos contendrían la diferencia verdadera). El
# *valor p* (p-value) es la frecuencia con que el ruido por sí solo daría una diferencia al menos así de grande si los
# dos brazos no difirieran, y "p (Holm)" es ese valor p corregido por las demás pruebas de su *familia* (family: las
# pruebas que se corrigen juntas; sección 6). El **veredicto** es uno de cuatro: **mejor** o **peor** cuando p (Holm)
# es menor que 0.05; **equivalente dentro de ±0.5** cuando una prueba de equivalencia (TOST) muestra que la diferencia
# está dentro de medio punto en cualquier dirección; en otro caso, **sin resolver con N semillas** (N: el menor número de
# semillas entre los brazos comparados): los datos no permiten decidirlo, lo cual no es lo mismo que "no hay diferencia". La sección 6 explica las familias, la prueba de
# equivalencia y cuántas semillas necesita una diferencia; hasta entonces bastan la diferencia, su intervalo y el
# veredicto. En los perfiles `smoke` y `quick`, las columnas
# con el encabezado "ejecución completa" muestran junto a la tuya la ejecución del perfil full guardada en el
# repositorio. En las curvas (semilla 0 del entrenamiento más largo), fíjate si la precisión de validación sigue subiendo en la última época.
# %%
dense_runs = lab.train_family("schedule")  # {"dense schedule": {variante: ejecuciones}} (catalogue.schedule_variants)
schedule = lab.effects(dense_runs, "schedule")  # stats.effects_table, corregida dentro de su familia declarada
dense = {"dense baseline": dense_runs["dense schedule"]["dense baseline"]}
lab.show_figure(plots.training_curves({"dense baseline": dense["dense baseline"][0].fit.history}), "training_dense")
display(tables.effects(schedule, lab.full_run_effects("schedule"), epochs=True))
show_markdown(findings.describe_effects(schedule))

# %% [markdown]
# **Por qué.** Un modelo de referencia detenido antes de tiempo hace que cualquier rival se vea bien, y lo mismo pasa
# con uno entrenado con una receta que solo le sirve a su rival. El modelo denso es barato (una época cuesta una
# fracción de una época de la CNN), así que entrena el triple de las épocas de la CNN: una diferencia de presupuesto
# declarada, que se muestra en la columna de épocas de las tablas que los comparan (secciones 3.4, 5.2 y 7.3). Esto pone a prueba si las épocas extra ayudan; no se pone a
# prueba si todavía más épocas ayudarían aún más.

# %% [markdown]
# ## 4. La capa convolucional a mano
#
# ### 4.1 Una convolución, escrita explícitamente
#
# **Pregunta.** ¿Qué número calcula una capa convolucional en una posición de salida?
#
# **Primero, las palabras.** Un *kernel* (núcleo) es una pequeña cuadrícula de pesos, aquí de 3×3. En cada posición,
# la capa multiplica el kernel por los píxeles que tiene debajo y suma los nueve productos: un número de salida, una
# *unidad*. Deslizar el kernel por todas las posiciones da un mapa de salidas, un *mapa de características* (feature
# map): dónde se encuentra el patrón del kernel. El *relleno* (padding; aquí `padding=1`) añade un borde de ceros de
# un píxel de ancho, para que el kernel también quepa en los bordes y el mapa conserve 28×28 (la sección 4.4 hace la
# cuenta). Las formas siguen a PyTorch: una imagen es C×H×W, con C *canales* (channels), H de alto y W de ancho; una
# imagen en escala de grises tiene un canal. Una capa con C_in canales de entrada tiene, por cada canal de salida, un
# kernel por canal de entrada, y suma sus resultados: esa pila de C_in kernels es un *filtro* (filter), y una capa de
# C_out filtros tiene pesos de C_out×C_in×k×k. Por ahora C_in = C_out = 1, así que filtro y kernel coinciden; la
# sección 4.6 usa más.
#
# **Predice.** Desliza el kernel de abajo (un detector de bordes verticales) sobre un pantalón. ¿Dónde será la salida
# grande y positiva, y dónde grande y negativa?
#
# Aquí están los bucles. La suma `(window * kernels[o]).sum()` recorre todos los canales de entrada a la vez:

# %%
def correlate2d(image, kernels, padding=0):  # image: C_in×H×W, kernels: C_out×C_in×k×k, paso 1
    image = F.pad(image, (padding, padding, padding, padding))  # ceros alrededor del borde
    c_out, k = kernels.shape[0], kernels.shape[-1]
    out = torch.zeros(c_out, image.shape[1] - k + 1, image.shape[2] - k + 1)
    for o in range(c_out):  # cada canal de salida: un filtro
        for i, j in itertools.product(range(out.shape[1]), range(out.shape[2])):  # cada posición (fila, columna)
            out[o, i, j] = (image[:, i:i + k, j:j + k] * kernels[o]).sum()  # Σ sobre los canales y la ventana de k×k
    return out


# %% [markdown]
# Verificado contra `F.conv2d` de PyTorch (`x[None]` añade al frente la dimensión de lote que esta espera) y contra el
# mismo cálculo con `unfold`, que convierte cada ventana en una columna para que todas las salidas sean un solo
# producto de matrices:

# %%
trousers = by_hand.as_chw(data.test_images[2])  # una imagen de prueba, como floats en [0, 1]
kernel = by_hand.KERNELS["vertical edge (Sobel x)"]  # 3×3
by_loops = correlate2d(trousers, kernel[None, None], padding=1)  # kernel[None, None]: 1×1×3×3 (C_out × C_in × k × k)
torch.testing.assert_close(by_hand.correlate2d_unfold(trousers, kernel, padding=1), by_loops)
torch.testing.assert_close(F.conv2d(trousers[None], kernel[None, None], padding=1)[0], by_loops)
lab.show_figure(plots.convolution_check(trousers[0], kernel, by_loops[0], F.conv2d(trousers[None], kernel[None, None],
                                                                             padding=1)[0, 0]), "by_hand_convolution")

# %% [markdown]
# **Por qué.** La salida es grande donde el patrón del kernel coincide con la ventana: positiva donde la imagen se
# vuelve más clara de izquierda a derecha (el borde izquierdo de cada pierna), negativa donde se vuelve más oscura (el
# borde derecho), cero en las regiones planas. Los *mismos* nueve pesos se usan en todas las posiciones; este uso
# compartido de los pesos es la razón por la que un kernel de 3×3 tiene nueve pesos sea cual sea el tamaño de la
# imagen. `unfold` seguido de un producto de matrices ("im2col") es una de varias formas en que las bibliotecas
# calculan una convolución; otras son los productos de matrices implícitos, los algoritmos de Winograd y los basados
# en FFT, y los kernels directos, que se eligen según la forma de la capa y el dispositivo. Todas dan el mismo
# resultado salvo por el redondeo de punto flotante: im2col y los kernels directos suman los mismos productos en
# distinto orden, y Winograd y FFT llegan a él mediante aritmética transformada.
#
# ### 4.2 Correlación cruzada, no convolución
#
# **Pregunta.** En matemáticas, la convolución voltea el kernel (de arriba abajo y de izquierda a derecha) antes de
# deslizarlo. ¿Lo hace PyTorch? El kernel de abajo es asimétrico a propósito: un único 1 en la esquina inferior
# derecha de una cuadrícula de 5×5, así que cada salida copia el píxel que está dos filas debajo y dos columnas a la
# derecha del centro de la ventana.
#
# **Predice.** ¿Hacia dónde se mueve la imagen del pantalón con el kernel tal como está guardado, y hacia dónde con el
# kernel volteado?

# %%
corner = torch.zeros(5, 5)
corner[4, 4] = 1.0  # un kernel asimétrico: su volteo (un 1 en la esquina superior izquierda) es un kernel distinto
as_stored = correlate2d(trousers, corner[None, None], padding=2)
flipped_response = by_hand.convolve2d(trousers, corner, padding=2)
torch.testing.assert_close(F.conv2d(trousers[None], corner[None, None], padding=2)[0], as_stored)
lab.show_figure(plots.correlation_vs_convolution(corner, as_stored[0], flipped_response[0], trousers[0]),
                "by_hand_flip")

# %% [markdown]
# **Por qué.** `nn.Conv2d` de PyTorch calcula la correlación cruzada: el kernel se usa tal como está guardado, sin
# voltearlo (la línea negra marca dónde estaba el pantalón). Con el 1 en la esquina inferior derecha, cada salida lee
# el píxel que está abajo y a su derecha, así que la imagen se mueve 2 píxeles hacia arriba y a la izquierda; la
# convolución primero voltea el kernel, y entonces la imagen se mueve 2 píxeles hacia abajo y a la derecha. (Un kernel
# simétrico oculta la diferencia; Sobel-x solo cambia de signo al voltearlo.) Para una capa que *aprende* sus kernels
# la distinción no importa (simplemente aprendería los pesos volteados), pero sí importa cuando copias un kernel de un
# libro de texto que usa la convención del volteo.

# %% [markdown]
# ### 4.3 Kernels diseñados a mano sobre prendas
#
# **Pregunta.** ¿A qué responden, en la ropa, los kernels clásicos de procesamiento de imágenes?
#
# **Predice.** ¿Qué kernel destaca los costados de las piernas del pantalón? ¿Cuál, los hombros de la camisa o la
# parte superior del bolso?

# %%
examples = [int((data.test_labels == CLASS_NAMES.index(name)).nonzero()[0]) for name in ("Shirt", "Trouser", "Bag")]
garments = [by_hand.as_chw(data.test_images[i]) for i in examples]
responses = {name: [by_hand.correlate2d_unfold(g, k, padding=1)[0] for g in garments]
             for name, k in by_hand.KERNELS.items()}
lab.show_figure(plots.kernel_gallery([g[0] for g in garments], ["Shirt", "Trouser", "Bag"], by_hand.KERNELS, responses),
         "by_hand_kernels")

# %% [markdown]
# **Por qué.** Cada kernel es una plantilla de un pequeño patrón, y su respuesta es grande donde la ventana que tiene
# debajo se parece a la plantilla. El kernel de bordes verticales responde a los contornos izquierdo y derecho (rojo
# donde el brillo aumenta hacia la derecha, azul donde disminuye: los costados de una camisa, las piernas de un
# pantalón); el kernel de bordes horizontales, a los contornos superior e inferior (los hombros, la parte superior de
# un bolso); el kernel diagonal, sobre todo a los contornos inclinados, pero también a los verticales y horizontales (es
# aproximadamente Sobel-x menos Sobel-y, así que comparte parte de cada uno); el desenfoque promedia la textura hasta borrarla; el
# realce de nitidez la exagera. Si la primera capa de una CNN entrenada termina con kernels de este tipo es una
# pregunta para la sección 5.5, que los examina y mide qué tanto se parecen a bordes.
#
# ✏️ **Ejercicio 4.1.** Diseña un kernel de 3×3 que responda a bordes *horizontales* (un cambio de oscuro arriba a
# claro abajo, o al revés), que no dé respuesta a los bordes verticales y que dé cero en un área plana. La verificación
# prueba los dos tipos de borde en cada posición y con varios brillos: "ninguna respuesta" y "cero" significan
# exactamente 0.

# %%
my_kernel = None  # reemplaza None por un tensor de 3×3, p. ej. torch.tensor([[...], [...], [...]])
print(exercises.check("horizontal edge kernel", my_kernel))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_kernel = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
# ```
# Compara la fila de abajo con la fila de arriba. Cada columna suma cero, así que todo lo que no cambia de arriba
# abajo a lo largo de una columna da cero: tanto un área plana como un borde vertical. Sobel-y (en `by_hand.KERNELS`)
# es la misma idea con la columna del medio ponderada el doble.
# </details>

# %% [markdown]
# ### 4.4 Tamaño de la salida
#
# **Pregunta.** Una entrada de 28×28, un kernel de k×k, relleno p en cada lado y un *paso* (stride) s (cuántos píxeles
# salta el kernel entre dos posiciones; todas las capas hasta ahora usaron s = 1): ¿qué tamaño sale?
#
# **Predice.** ¿Y con 28×28, un kernel de 5×5, relleno 1 y paso 2?
#
# El kernel cabe ⌊(n + 2p − k) / s⌋ + 1 veces a lo largo de cada lado. La tabla compara la fórmula con `nn.Conv2d` en
# nueve casos (el último, k = 2 con paso 2, tiene la forma de una ventana de pooling de 2×2, sección 4.7):

# %%
cases = [(28, 3, 0, 1), (28, 3, 1, 1), (28, 5, 2, 1), (28, 5, 1, 2), (28, 7, 3, 1), (28, 3, 1, 2), (14, 3, 0, 1),
         (7, 3, 1, 2), (28, 2, 0, 2)]
sizes = by_hand.output_size_check(cases)
assert (sizes["formula"] == sizes["nn.Conv2d"]).all()
sizes

# %% [markdown]
# **Por qué.** Sin relleno ("valid"), cada capa de k×k recorta k − 1 píxeles; el relleno 'same' añade (k − 1) / 2
# ceros en cada lado para que, con paso 1, la salida conserve el tamaño de la entrada (de ahí los kernels impares).
# Con paso s el kernel salta s píxeles, así que la salida se reduce unas s veces; entonces ningún relleno puede
# conservar el tamaño, y por eso PyTorch rechaza `padding="same"` con paso > 1:

# %%
try:
    nn.Conv2d(1, 1, 3, stride=2, padding="same")
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# ✏️ **Ejercicio 4.2.** Escribe la fórmula como una función. La verificación la compara con la salida de un
# `nn.Conv2d` real en más de cien combinaciones de tamaño de entrada, kernel, relleno y paso.

# %%
def my_output_side(n, k, padding, stride):
    # el lado de la salida de una convolución para una entrada de n×n y un kernel de k×k
    raise NotImplementedError(translate("exercise 4.2: replace this line with the formula"))


print(exercises.check("output side", my_output_side))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# def my_output_side(n, k, padding, stride):
#     return (n + 2 * padding - k) // stride + 1  # // redondea hacia abajo: un kernel que no cabe no se usa
# ```
# </details>
#
# ### 4.5 Las formas de la CNN por defecto, paso a paso
#
# **Pregunta.** ¿De dónde sale el número 3,136 (las entradas de la cabeza densa de la CNN)?
#
# **Predice.** La CNN tiene dos bloques, cada uno con dos convoluciones 'same' de 3×3 y un max pooling de 2×2 (que
# conserva el mayor valor de cada ventana de 2×2, lo que reduce cada lado a la mitad). El primer bloque calcula 32
# mapas de salida (*canales*: uno por filtro), el segundo 64. ¿Qué forma sale del segundo bloque?

# %%
trace = pd.DataFrame(by_hand.shape_trace(ConvConfig()))
head_inputs = next(r for r in layer_summary(ConvNet()) if r["type"] == "Flatten")["output_shape"][0]
assert trace.output.iloc[-1] == (head_inputs,)
trace

# %% [markdown]
# **Por qué.** Las convoluciones 'same' mantienen 28 × 28; cada max pooling 2×2 divide el tamaño a la mitad (28 → 14 →
# 7); el último bloque tiene 64 canales, así que la cabeza recibe 64 × 7 × 7 = 3,136 números. En el código del modelo
# ese tamaño se mide con una pasada hacia adelante de prueba, nunca se escribe a mano, así que cambiar un bloque no
# puede provocar el conocido error "mat1 and mat2 shapes cannot be multiplied".
#
# ✏️ **Ejercicio 4.3.** Agrega un tercer bloque con 128 canales (dos convoluciones 3×3 'same' y un max pooling 2×2).
# ¿Cuántas entradas recibe ahora la cabeza densa?

# %%
my_head_inputs = None  # reemplaza None por un número entero
print(exercises.check("head inputs", my_head_inputs))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_head_inputs = 128 * 3 * 3  # 7 // 2 = 3: el pooling redondea hacia abajo el tamaño impar
# ```
# Compruébalo: `layer_summary(ConvNet(ConvConfig(channels=(32, 64, 128))))`.
# </details>
#
# ### 4.6 Canales, parámetros y costo
#
# **Pregunta.** Una convolución de C_in a C_out canales con kernels k×k: ¿cuántos pesos tiene y cuántas
# multiplicaciones-acumulaciones (MACs) hace por imagen?
#
# **Predice.** ¿Cuál de las cuatro convoluciones de la CNN tiene más parámetros? ¿Y más MACs?
#
# Cada uno de los C_out filtros contiene C_in × k × k pesos (mira todos los canales de entrada), más un sesgo cuando
# lo hay: parámetros = C_out · (C_in · k² + sesgo). Cada valor de salida cuesta C_in · k² MACs, y hay C_out × H_out ×
# W_out de ellos. La tabla verifica ambas fórmulas contra `layer_summary` para cada convolución:

# %%
cnn = ConvNet()
costs = by_hand.conv_cost_check(cnn)
assert (costs["parameters (formula)"] == costs["parameters (layer_summary)"]).all()
assert (costs["MACs (formula)"] == costs["MACs (layer_summary)"]).all()
tables.conv_costs(costs, layer_summary(cnn))

# %% [markdown]
# **Por qué.** Los parámetros no dependen del tamaño de la imagen (compartición de pesos): crecen con C_in · C_out,
# así que la última convolución es la que más tiene (64 × 64 × 9). Las MACs también crecen con el área de salida: la
# segunda convolución del bloque 1 (32 × 32 × 9 pesos en 28 × 28 posiciones) y la segunda del bloque 2 (64 × 64 × 9 en
# 14 × 14) empatan, porque el pooling divide el área entre cuatro exactamente como duplicar ambos números de canales
# cuadruplica los pesos. Aplicar pooling pronto hace que cada capa posterior sea cuatro veces más barata. Las
# convoluciones de la CNN por defecto no tienen sesgo porque a cada una le sigue una normalización por lotes (sección
# 5.1), que resta la media de cada canal y, por lo tanto, anularía un sesgo de todos modos.
#
# ✏️ **Ejercicio 4.4.** ¿Cuántos parámetros tiene `nn.Conv2d(32, 64, 3)` (con su sesgo)?

# %%
my_conv_parameters = None  # reemplaza None por un número entero
print(exercises.check("conv parameters", my_conv_parameters))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_conv_parameters = 64 * (32 * 3 * 3 + 1)  # = 18,496
# ```
# </details>
#
# **La suma sobre los canales, verificada.** La función `correlate2d` de la sección 4.1 ya suma sobre los canales de
# entrada. Aquí se aplica a una entrada de 3 canales con 2 filtros y se compara con `F.conv2d`; luego se desarma un
# filtro: cada canal de entrada correlacionado con su propio kernel, y los tres resultados sumados, dan el mapa de
# salida de ese filtro. (La sección 5.6 hace lo mismo con los 32 mapas del bloque 1 de la CNN entrenada.)

# %%
x = torch.randn(3, 6, 6)  # 3 canales de entrada de 6×6
filters = torch.randn(2, 3, 3, 3)  # 2 filtros, cada uno con un kernel 3×3 por canal de entrada
torch.testing.assert_close(correlate2d(x, filters), F.conv2d(x[None], filters)[0])
per_channel = [correlate2d(x[c:c + 1], filters[:1, c:c + 1]) for c in range(3)]  # el canal c solo con el kernel c
torch.testing.assert_close(sum(per_channel), correlate2d(x, filters[:1]))  # la salida del filtro 0: su suma

# %% [markdown]
# **La convolución 1×1.** Con k = 1, un filtro contiene un peso por canal de entrada, así que en cada píxel calcula
# una suma ponderada de los C_in valores que hay ahí: una capa densa de C_in a C_out, aplicada en cada píxel con los
# mismos pesos. Las redes la usan para mezclar o reducir canales a bajo costo (Lin et al., 2014). Verificado con 32
# mapas de 7×7:

# %%
maps = torch.randn(32, 7, 7)
mixing = torch.randn(8, 32)  # una capa densa de 32 a 8 valores
per_pixel = (mixing @ maps.flatten(1)).reshape(8, 7, 7)  # la capa densa aplicada a los 32 valores de cada píxel
torch.testing.assert_close(F.conv2d(maps[None], mixing[:, :, None, None])[0], per_pixel)  # = una convolución 1×1

# %% [markdown]
# ✏️ **Ejercicio 4.5.** Extiende `correlate2d` con paso y sesgo: `my_correlate2d(image, kernels, bias, stride)` recibe
# C_in×H×W, C_out×C_in×k×k y C_out sesgos (sin relleno), y devuelve lo mismo que `F.conv2d` para una imagen. La
# verificación los compara en siete casos aleatorios: uno o varios canales, imágenes cuadradas y no cuadradas, kernels
# desde 1×1 hasta la imagen entera, pasos de 1 a 3. Solo deja margen para el redondeo, y tu función no debe modificar
# sus entradas.

# %%
def my_correlate2d(image, kernels, bias, stride):
    # correlación cruzada multicanal con paso y un sesgo por canal de salida, sin relleno
    raise NotImplementedError(translate("exercise 4.5: replace this line; section 4.4 gives the output size"))


print(exercises.check("strided correlate2d", my_correlate2d))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# def my_correlate2d(image, kernels, bias, stride):
#     (c_out, _, k, _), (_, height, width) = kernels.shape, image.shape
#     out = torch.zeros(c_out, (height - k) // stride + 1, (width - k) // stride + 1)
#     for o, i, j in itertools.product(*map(range, out.shape)):
#         window = image[:, i * stride:i * stride + k, j * stride:j * stride + k]  # cada ventana avanza s píxeles
#         out[o, i, j] = (window * kernels[o]).sum() + bias[o]
#     return out
# ```
# </details>
#
# ### 4.7 El pooling y el campo receptivo
#
# **Pregunta.** El *pooling* (agrupamiento) reemplaza cada ventana de un mapa de características por un solo número,
# canal por canal: max pooling conserva el valor más grande de la ventana; average pooling, su media. Un pooling 2×2
# con paso 2 conserva una cuarta parte de las posiciones. Después de unas cuantas capas, ¿de qué tamaño es la ventana
# de la entrada de la que depende una unidad, es decir, su *campo receptivo* (receptive field)?
#
# **Predice.** Después de dos convoluciones 3×3, un pooling 2×2 y otras dos convoluciones 3×3, ¿cuántos píxeles de
# ancho mide, en la entrada, lo que ve una unidad?
#
# Primero, el max pooling escrito explícitamente y verificado contra `F.max_pool2d` sobre el mapa de bordes verticales
# de la sección 4.1:

# %%
def max_pool(feature_map, size=2):  # entra C×H×W; el valor más grande de cada ventana size×size, canal por canal
    channels, height, width = feature_map.shape
    out = torch.zeros(channels, height // size, width // size)  # una ventana que no cabe se descarta
    for i, j in itertools.product(range(height // size), range(width // size)):
        out[:, i, j] = feature_map[:, i * size:(i + 1) * size, j * size:(j + 1) * size].amax(dim=(1, 2))
    return out


feature_map = by_loops.relu()  # la respuesta a bordes verticales de la sección 4.1, tras una ReLU como en la CNN
torch.testing.assert_close(max_pool(feature_map), F.max_pool2d(feature_map[None], 2)[0])

# %% [markdown]
# ✏️ **Ejercicio 4.6.** Escribe el average pooling, `my_avg_pool2d(feature_map, size)`: la media de cada ventana
# size×size (paso = size), por canal. La verificación lo compara con `F.avg_pool2d` en mapas aleatorios, incluidos
# mapas no cuadrados, tamaños que no dividen el mapa y una ventana tan grande como el mapa.

# %%
def my_avg_pool2d(feature_map, size):
    # la media de cada ventana size×size de un mapa C×H×W, con las ventanas a `size` de distancia
    raise NotImplementedError(translate("exercise 4.6: replace this line (max_pool above is one line away)"))


print(exercises.check("average pooling", my_avg_pool2d))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# def my_avg_pool2d(feature_map, size):
#     channels, height, width = feature_map.shape
#     out = torch.zeros(channels, height // size, width // size)
#     for i, j in itertools.product(range(height // size), range(width // size)):
#         out[:, i, j] = feature_map[:, i * size:(i + 1) * size, j * size:(j + 1) * size].mean(dim=(1, 2))
#     return out
# ```
# </details>
#
# Ahora el campo receptivo, mediante su recurrencia: cada capa k×k añade k − 1 intervalos de la cuadrícula sobre la
# que opera, y cada capa con paso s hace esa cuadrícula s veces más gruesa: su *salto* (jump), la distancia en píxeles
# de entrada entre unidades vecinas, se multiplica por s. La celda ejecuta la recurrencia sobre las convoluciones y
# los poolings de la CNN y la compara con la columna de campo receptivo de `layer_summary`:

# %%
summary_rows = layer_summary(ConvNet())
fields = tables.receptive_fields(by_hand.receptive_field_check(summary_rows), summary_rows)
field, jump, by_recurrence = 1, 1, []  # un píxel se ve a sí mismo; las unidades vecinas están a 1 píxel
for k, s in zip(fields.kernel, fields.stride):
    field, jump = field + (k - 1) * jump, jump * s  # k − 1 intervalos más de la cuadrícula actual, luego una cuadrícula más gruesa
    by_recurrence.append(field)
# este bucle, la columna "a mano" de la tabla (by_hand.receptive_fields) y layer_summary coinciden: la tabla es su resultado
assert by_recurrence == fields["by hand"].tolist() == fields["layer_summary"].tolist()

# %%
lab.show_figure(plots.receptive_fields(data.test_images[0], list(zip(fields.layer, by_recurrence))), "receptive_field")
fields

# %% [markdown]
# **Por qué.** Cada capa k×k ensancha el campo receptivo en (k − 1) × salto, y cada capa con paso 2 duplica el salto.
# Así, dos capas 3×3 ven 5×5 (el argumento de VGG para apilar kernels pequeños: la misma ventana que una sola capa
# 5×5, con menos pesos y una ReLU extra, Simonyan & Zisserman 2015), y las capas después de un pooling crecen el doble
# de rápido. El campo receptivo *efectivo* es más pequeño que este campo teórico: los píxeles cercanos a su centro
# pesan mucho más (Luo et al., 2016).
#
# ✏️ **Ejercicio 4.7.** Tres convoluciones 3×3 (paso 1), luego un max pooling 2×2 (paso 2) y luego una convolución 3×3
# más: ¿cuál es el campo receptivo final?

# %%
my_receptive_field = None  # reemplaza None por un número entero de píxeles
print(exercises.check("receptive field", my_receptive_field))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# # el campo crece (k − 1) × salto; una capa con paso 2 duplica el salto para las capas siguientes
# # 3×3: 1 + 2 = 3;  3×3: 3 + 2 = 5;  3×3: 5 + 2 = 7;  pooling 2×2: 7 + 1 = 8 (salto = 2);  3×3: 8 + 2·2 = 12
# my_receptive_field = 12
# ```
# </details>
#
# ### 4.8 Equivarianza e invariancia, medidas
#
# **Pregunta.** Mueve una imagen 1 píxel y luego 2 píxeles hacia la derecha. ¿Qué le pasa a la salida de una
# convolución? ¿Y a la salida de un max pooling 2×2? ¿Y al promedio global de la salida (la media sobre todas las
# posiciones, un número por mapa)?
#
# **Predice.** ¿Cuál de las tres se mueve con la imagen, cuál cambia y cuál se mantiene casi igual? ¿La respuesta para
# el pooling depende de si el desplazamiento es de 1 o de 2 píxeles? (Como en la CNN, a la convolución le sigue una
# ReLU.)

# %%
responses = [by_hand.shift_response(trousers, kernel, shift) for shift in (1, 2)]
assert all(r.conv_interior_difference < 1e-5 for r in responses)  # la convolución se movió con su entrada
demos = [by_hand.shift_demo(trousers, kernel, shift) for shift in (1, 2)]
lab.show_figure(plots.shift_response(demos), "by_hand_shift")
tables.shift_responses(responses)

# %% [markdown]
# **Por qué.** Como el mismo kernel se aplica en cada posición, desplazar la entrada desplaza la salida en la misma
# cantidad: la convolución es **equivariante** (equivariant) a la traslación (exactamente, lejos del borde, por donde
# entran ceros). El max pooling 2×2 con paso 2 es equivariante solo a desplazamientos de celdas de pooling completas:
# un desplazamiento de 2 píxeles mueve el mapa tras el pooling una celda, mientras que un desplazamiento de 1 píxel
# empuja el contenido de cada ventana a través del borde de la ventana y cambia muchos valores tras el pooling (la
# fila central de la figura, comparada con el mapa tras el pooling movido una celda). Un desplazamiento de 1 píxel es media celda, así que
# ningún movimiento de celdas completas puede igualarlo: la tabla compara con el más cercano de 0 y 1 celdas, y solo
# cuenta las posiciones sobre la prenda (el fondo es cero en ambos casos). Un promedio global sobre todo el
# mapa apenas cambia: es casi **invariante** (invariant). Un clasificador necesita invariancia (una camisa desplazada
# sigue siendo una camisa); las convoluciones dan equivarianza, y el pooling y la cabeza deben convertirla en
# invariancia. La sección 7.1 mide cuánto de eso logran las CNN entrenadas.

# %% [markdown]
# ### 4.9 Aprender un kernel a partir de datos
#
# **Pregunta.** Una CNN no recibe sus kernels hechos a mano: los aprende por descenso de gradiente. ¿Puede el descenso
# de gradiente recuperar un kernel conocido a partir de ejemplos de lo que hace?
#
# **Predice.** Partiendo de pesos pequeños y aleatorios, ¿cuántas iteraciones hacen falta para que cada peso aprendido
# quede a menos de 0.05 del de Sobel-x?
#
# Los datos: 64 imágenes de entrenamiento y lo que el kernel "desconocido" (Sobel-x) produce con ellas. El modelo:
# nueve pesos, que empiezan pequeños y aleatorios. La pérdida: la media de las diferencias al cuadrado entre las dos
# salidas.

# %%
images = to_float_pixels(data.train_images[:64])  # N×1×28×28
targets = F.conv2d(images, kernel[None, None])  # lo que el kernel desconocido produce con ellas
weights = (0.1 * torch.randn(1, 1, 3, 3, generator=torch.Generator().manual_seed(0))).requires_grad_()
losses, errors = [], []  # la pérdida, y cuánto se alejan aún los pesos de Sobel-x, tras cada iteración

# %% [markdown]
# Descenso de gradiente simple: calcula la pérdida, retropropaga, mueve cada peso en contra de su gradiente y repite.

# %%
for _ in range(500):
    loss = F.mse_loss(F.conv2d(images, weights), targets)
    loss.backward()  # weights.grad: cómo cambia la pérdida con cada uno de los nueve pesos
    with torch.no_grad():  # la actualización en sí no es parte del modelo
        weights -= 0.5 * weights.grad  # un paso cuesta abajo; 0.5 es la tasa de aprendizaje
        weights.grad = None  # olvida el gradiente de esta iteración antes del siguiente backward
    losses.append(loss.item())
    errors.append(float((weights.detach()[0, 0] - kernel).abs().max()))

# %%
learned = weights.detach()[0, 0]
torch.testing.assert_close(learned, kernel, atol=0.05, rtol=0)  # encontró Sobel-x
torch.testing.assert_close(learned, by_hand.learn_kernel(data.train_images[:64], kernel, steps=500).kernel)
lab.show_figure(plots.learned_kernel(kernel, learned, losses, errors), "by_hand_learned_kernel")

# %% [markdown]
# **Por qué.** La salida de una convolución es lineal en sus pesos, así que el error cuadrático entre la salida del
# kernel aprendido y el objetivo es un tazón suave con un único mínimo (si hay suficientes imágenes variadas), y el
# descenso de gradiente baja hasta él (el capítulo 7 de d2l plantea lo mismo con un kernel [1, −1]). Una CNN resuelve
# una versión más difícil de este problema: 32 kernels a la vez, seguidos de capas no lineales, con solo la etiqueta
# de clase como objetivo.

# %% [markdown]
# ### 4.10 Zona de pruebas
#
# **Pregunta.** ¿Qué les hacen el paso y el relleno a la salida de un kernel que tú eliges?
#
# **Predice.** Con paso 2, ¿de qué tamaño es la salida de un kernel 3×3 con relleno 1 sobre la imagen de 28×28? ¿Y con
# relleno 0?
#
# Elige un kernel, un paso y un relleno, y observa la salida y su tamaño. En un kernel de Jupyter activo, esta celda
# muestra controles deslizantes; en una copia renderizada (GitHub, CI) muestra paso 2 con relleno 1 como figura
# estática.

# %%
if lab.live:
    from conv_workshop.lesson.playground import playground_widget

    display(playground_widget(trousers[0]))
else:
    strided = by_hand.correlate2d_unfold(trousers, kernel, stride=2, padding=1)[0]
    lab.show_figure(plots.playground(trousers[0], "vertical edge (Sobel x)", kernel, strided, 2, 1), "playground")

# %% [markdown]
# **Por qué.** Toda configuración obedece la fórmula de la sección 4.4: el paso divide el número de posiciones que
# visita el kernel, y el relleno agrega posiciones en el borde. El kernel decide *qué* se encuentra; el paso y el
# relleno, *dónde* y con qué resolución.

# %% [markdown]
# ## 5. La CNN
#
# ### 5.1 La arquitectura
#
# **Pregunta.** La CNN del taller apila dos bloques de (conv 3×3 → normalización por lotes → ReLU) × 2 → max pooling
# 2×2, con 32 y luego 64 canales, y después la cabeza: aplanado → densa 128 → ReLU → dropout 0.3 → 10. ¿Dónde están
# sus parámetros?
#
# **Predice.** ¿Tendrá más o menos parámetros que el modelo denso de referencia?
#
# La *normalización por lotes* (batch norm, `nn.BatchNorm2d`; Ioffe & Szegedy, 2015) estandariza cada canal sobre las
# imágenes de un lote y todas las posiciones (resta la media, divide entre la desviación estándar y luego aplica una
# escala y un desplazamiento aprendidos; en evaluación usa promedios acumulados durante el entrenamiento). Esta es la
# CNN como código de PyTorch:

# %%
def conv_block(c_in, c_out):  # (conv 3×3 → normalización por lotes → ReLU) × 2, luego max pooling 2×2
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.MaxPool2d(2)]


# %%
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Normalize(), *conv_block(1, 32), *conv_block(32, 64))  # 1×28² → 64×7²
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3),
                                  nn.Linear(128, 10))

    def forward(self, x):
        return self.head(self.features(x))


# %% [markdown]
# Igual que con el modelo denso, la verificación: el `ConvNet()` del paquete, que es el que entrenan todos los
# experimentos, es esta red (construye las mismas capas a partir de un `ConvConfig`, para que la sección 6 pueda
# cambiar un ajuste a la vez).

# %%
mine, package = CNN().eval(), ConvNet().eval()
mine.load_state_dict(package.state_dict())  # los mismos nombres y formas de capas
torch.testing.assert_close(mine(to_float_pixels(data.test_images[:8])), package(to_float_pixels(data.test_images[:8])))
tables.layers(layer_summary(mine))

# %% [markdown]
# **Por qué.** Las convoluciones son baratas en parámetros y caras en cómputo; la cabeza densa es lo contrario. Su
# primera capa conecta 3,136 entradas con 128 unidades y contiene la mayor parte de los pesos del modelo, y por eso
# una CNN puede tener *más* parámetros que una red densa sobre la misma imagen. La sección 6.8 reemplaza la cabeza por
# global average pooling (Lin et al., 2014) para comprobar si esos parámetros hacen falta. Por qué la normalización
# por lotes ayuda al entrenamiento es un tema debatido (la explicación de sus autores, el "internal covariate shift" o
# desplazamiento interno de covariables, fue cuestionada por Santurkar et al., 2018); la sección 6.7 mide qué ocurre
# aquí al quitarla, no por qué.
#
# ✏️ **Ejercicio 5.1.** ¿Cuántos parámetros tiene la primera capa lineal de la cabeza (de los mapas aplanados de 64 ×
# 7 × 7 a 128 unidades, con sesgos)?

# %%
my_head_parameters = None  # reemplaza None por un número entero
print(exercises.check("head parameters", my_head_parameters))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_head_parameters = 64 * 7 * 7 * 128 + 128  # la mayor parte del modelo
# ```
# </details>
#
# ✏️ **Ejercicio 5.2.** Construye una CNN más pequeña, `MyCNN`, con una convolución por bloque y una cabeza de global
# average pooling (GAP: la media de cada mapa final, un número por canal). Sus formas deben ser 1×28×28 → conv 3×3
# 'same', sin sesgo → 16×28×28 → normalización por lotes, ReLU, max pooling 2×2 → 16×14×14 → lo mismo con 32 canales →
# 32×7×7 → `nn.AdaptiveAvgPool2d(1)` y `nn.Flatten()` → 32 → `nn.Linear` → 10; `forward` devuelve los logits. La verificación
# da a tus capas los pesos del modelo descrito (emparejados en el orden en que `forward` las usa) y luego compara las
# salidas en modo de evaluación y de entrenamiento, con lotes de una y de varias imágenes. Cada capa que construyas
# debe usarse.

# %%
class MyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        raise NotImplementedError(translate("exercise 5.2: build the layers here (conv_block above is a model)"))

    def forward(self, x):
        raise NotImplementedError(translate("exercise 5.2: run the layers on x"))


print(exercises.check("small CNN", MyCNN))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# class MyCNN(nn.Module):
#     def __init__(self):
#         super().__init__()
#         self.layers = nn.Sequential(
#             nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
#             nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
#             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
#
#     def forward(self, x):
#         return self.layers(x)
# ```
# </details>

# %% [markdown]
# ### 5.2 La CNN frente al modelo denso de referencia
#
# **Pregunta.** Con cada modelo usando su mejor aumento de datos y todo lo demás compartido (optimizador, forma del
# esquema de la tasa de aprendizaje, datos), ¿es mejor la CNN, y por cuánto?
#
# **Predice.** ¿Qué aumento de datos elegirá la CNN? Luego: ¿qué modelo gana, por cuántos puntos porcentuales, y es la
# diferencia mayor que el ruido entre semillas?
#
# Primero la receta de la CNN, elegida en el conjunto de validación exactamente como se eligió la del modelo denso en
# la sección 3.3:

# %%
cnn_recipe = lab.choose_augmentation("CNN")  # ninguno, volteos, desplazamientos, como para el modelo denso en la sección 3.3
display(tables.recipe_choice(cnn_recipe))
show_markdown(findings.describe_recipe(cnn_recipe, "CNN"))

# %% [markdown]
# Luego, la comparación central: la CNN por defecto con las semillas del perfil frente al modelo denso de referencia
# de la sección 3.3. Es una de las tres pruebas *primarias* (junto con los kernels 5×5 y 7×7 frente a 3×3 en la
# sección 6.1), corregidas juntas; las dos que aún no se han ejecutado cuentan aquí como p = 1, lo que solo puede
# hacer más estricto este veredicto.
# %%
headline_runs = lab.train_family("headline")  # el modelo denso de referencia de arriba (reutilizado) y ConvNet(ConvConfig())
headline = lab.effects(headline_runs, "headline")  # Holm sobre la familia primaria (3 pruebas)
cnn = {"CNN": headline_runs["CNN vs dense"]["CNN"]}
histories = {"dense baseline": dense["dense baseline"][0].fit.history, "CNN": cnn["CNN"][0].fit.history}
lab.show_figure(plots.training_curves(histories, translate("Dense baseline vs CNN (seed 0)")), "training_curves")
display(tables.effects(headline, lab.full_run_effects("headline"), epochs=True))
show_markdown(findings.describe_effects(headline))

# %% [markdown]
# **Por qué.** Ambos modelos ven las mismas imágenes, el mismo optimizador y la misma forma del esquema de la tasa de
# aprendizaje; difieren en la arquitectura (dropout incluido), en su aumento de datos (cada uno, el mejor en
# validación) y en el entrenamiento tres veces más largo del modelo denso (la sección 3.4 mide qué le aporta eso). Por
# qué una CNN puede ganar: la localidad y los pesos compartidos le permiten aprender un detector de bordes o de
# cuellos una sola vez y reutilizarlo en cada posición, mientras que una capa densa tiene pesos distintos para cada
# posición, así que un patrón aprendido en un lugar no se traslada automáticamente a otro. Ese es un mecanismo posible, no lo
# que esta comparación midió: la CNN tiene además unas cuatro veces más parámetros, muchas más multiplicaciones-sumas
# (la columna MACs de la tabla) y normalización por lotes, así que esta fila por sí sola no puede decir cuál de esas
# diferencias produce la ganancia. Las secciones 6.6–6.8 y 7.2 las varían de una en una. El intervalo es para la
# diferencia de las medias y cuenta tanto el ruido entre semillas como el ruido de un conjunto de prueba finito (la
# sección 6 lo explica).

# %% [markdown]
# ### 5.3 ¿Dónde se equivoca?
#
# **Pregunta.** ¿Qué clases confunde la CNN, y son los pares parecidos de la sección 2.3?
#
# **Predice.** ¿Qué clase es la más difícil?
#
# El modelo que se muestra es la semilla de la CNN con la mejor precisión de *validación* (nunca se elige con el
# conjunto de prueba).

# %%
best_cnn = max(cnn["CNN"], key=lambda o: o.record["best_val_accuracy"])  # elegido en validación, nunca en prueba
best_dense = max(dense["dense baseline"], key=lambda o: o.record["best_val_accuracy"])
cnn_logits = predict_logits(best_cnn.ensure_model(), splits.test_images, lab.runtime)
dense_predictions = predict_logits(best_dense.ensure_model(), splits.test_images, lab.runtime).argmax(1)
matrix = analysis.confusion_matrix(cnn_logits.argmax(1), splits.test_labels)
heatmap = plots.confusion_heatmap(matrix, CLASS_NAMES, translate("CNN confusion matrix (test set)"))
lab.show_figure(heatmap, "confusion_matrix")

# %% [markdown]
# **Predice.** Por clase, junto al modelo denso de referencia: ¿dónde ganará más la CNN, y dónde menos?

# %%
per_class = analysis.per_class_table({"dense baseline": dense_predictions, "CNN": cnn_logits.argmax(1)},
                                     splits.test_labels, CLASS_NAMES)
lab.show_figure(plots.per_class_dots(per_class, translate("Per-class test accuracy"), counts=analysis.class_counts(
    splits.test_labels, CLASS_NAMES)["count"]), "per_class")
show_markdown(findings.describe_confusions(matrix, per_class, closest))

# %% [markdown]
# **Por qué.** Donde dos clases comparten su contorno (camisas, camisetas/tops, suéteres, abrigos) solo los detalles
# locales las separan, y a 28×28 píxeles muchos de esos detalles se pierden: ahí es donde se espera que cualquier
# modelo tenga dificultades. Las clases de contorno característico (pantalones, bolsos, calzado) ya son fáciles
# para el modelo denso, así que ahí queda poco que ganar; si los detectores locales recuperan los detalles perdidos
# de las prendas de arriba parecidas entre sí es lo que mide la figura. Las
# barras son intervalos del 95 % para la precisión de cada modelo en las imágenes de prueba de esa clase (una semilla
# cada uno, así que solo ruido del conjunto de prueba). Ambos modelos se evalúan con las *mismas* imágenes, así que
# saber si una ganancia por clase es real es una pregunta pareada (¿corrigió la CNN más de estas imágenes de las que
# estropeó?), que dos intervalos separados no responden: que las barras se solapen no significa "no hay diferencia".
#
# **Predice.** ¿En cuántas de las diez clases la ganancia de la CNN es más que suerte del conjunto de prueba?
#
# La prueba de McNemar responde la pregunta pareada: entre las imágenes que acierta exactamente uno de los modelos,
# un empate real las repartiría por igual, como lanzamientos de una moneda justa; el valor p dice qué tan
# sorprendente es el reparto observado, corregido con Holm sobre las diez clases.

# %%
per_class_tests = stats.mcnemar_by_class(cnn_logits.argmax(1) == splits.test_labels,
                                         dense_predictions == splits.test_labels, splits.test_labels, CLASS_NAMES)
display(tables.per_class_tests(per_class_tests))
show_markdown(findings.describe_per_class_tests(per_class_tests))

# %% [markdown]
# **Por qué.** Las imágenes que ambos modelos aciertan, o que ambos fallan, no dicen nada sobre cuál modelo es
# mejor; solo lo dicen los desacuerdos. Por eso una prueba pareada puede resolver una ganancia que dos intervalos
# solapados dejan abierta. La prueba mantiene fijos estos dos modelos entrenados: no pregunta si otro par de
# semillas diferiría en una clase.

# %% [markdown]
# ### 5.4 Los errores con mayor confianza
#
# **Pregunta.** Cuando la CNN se equivoca, ¿duda, o se equivoca con confianza? **Predice.** ¿Sus errores con mayor
# confianza serán entre clases parecidas, o parecerán errores de etiquetado?
# La galería muestra primero el error con mayor confianza de cada par (verdadera, predicha).

# %%
confidence = cnn_logits.softmax(1).max(1).values
lab.show_figure(plots.misclassified_gallery(splits.test_images, splits.test_labels, cnn_logits.argmax(1), confidence,
                                     CLASS_NAMES), "mistakes")
show_markdown(findings.describe_confidence(confidence, cnn_logits.argmax(1) == splits.test_labels))

# %% [markdown]
# **Por qué.** La frase bajo la galería responde la pregunta con números: un modelo que solo dudara al equivocarse
# casi no tendría errores por encima del 90 %. En la galería, busca dos tipos de error: imágenes que son ambiguas a
# 28×28 incluso para una persona (o que tienen una etiqueta dudosa), e imágenes que el modelo debería haber acertado.
# Las imágenes de prueba mal etiquetadas, si las hay, ponen un tope a la precisión medida de cualquier modelo.
# Confianza no es acierto: la entropía cruzada premia empujar hacia 1 la probabilidad de la clase verdadera en las
# imágenes de entrenamiento, así que las redes entrenadas así tienden a dar probabilidades extremas (Guo et al., 2017,
# miden este exceso de confianza), y nada en el entrenamiento les impide hacerlo en una imagen de prueba que fallan.
#
# ### 5.5 ¿Qué aprendió la primera capa?
#
# **Pregunta.** ¿Se parecen los filtros 3×3 aprendidos a los kernels diseñados a mano de la sección 4.3?
#
# **Predice.** ¿Cuántos parecen detectores de bordes?

# %%
first_conv = next(m for m in best_cnn.ensure_model().modules() if isinstance(m, nn.Conv2d))
lab.show_figure(plots.filters_beside(by_hand.KERNELS, first_conv.weight), "filters")

# %% [markdown]
# **Por qué.** Busca filtros con un lado positivo y un lado negativo (detectores de bordes, como kernels de Sobel en
# otras orientaciones) y filtros con un centro distinto de su entorno (detectores de puntos). Contenga lo que
# contenga la primera capa, nada se lo indicó: el descenso de gradiente modificó pesos iniciales aleatorios para
# bajar la pérdida de entrenamiento (la sección 4.9 mostró el mecanismo con un kernel). Mirar no es medir, así que la
# siguiente celda mide qué tan "parecido a un borde" es cada filtro: su mayor |similitud coseno| (cosine similarity;
# 1 = el mismo patrón salvo escala y signo, 0 = sin relación) con un detector de bordes en cualquiera de cuatro
# orientaciones (con cualquier polaridad), junto a lo mismo para filtros aleatorios generados como en la
# inicialización. El valor p que da es con qué frecuencia el azar por sí solo separaría a los dos grupos tanto como
# esto (la sección 6 explica más).

# %%
edges = probes.edge_likeness(first_conv.weight)
lab.show_figure(plots.edge_likeness(edges), "filters_edge_likeness")
show_markdown(findings.describe_edge_likeness(edges))

# %% [markdown]
# **Qué puede mostrar la comparación y qué no.** Un filtro 3×3 aleatorio ya tiene cierto coseno con el más cercano
# de los cuatro detectores de bordes por puro azar, y por eso la comparación necesita la referencia aleatoria. Los
# filtros entrenados que puntúan más alto que los aleatorios se han movido hacia la detección de bordes. Los que no
# puntúan más alto no son inútiles: después vienen la normalización por lotes y una ReLU, y el bloque 2 suma 32 de sus
# mapas a la vez (sección 5.6), así que un detector de bordes puede construirse una capa más arriba a partir de
# filtros que no se parecen a kernels de Sobel; además, nueve pesos son pocos para una plantilla limpia cuando deben
# servir a varios patrones. En cualquier caso, que los filtros *ayuden* a la clasificación es una afirmación adicional
# que esta medición no pone a prueba.
#
# ### 5.6 Mapas de características: lo que fluye por la red
#
# **Pregunta.** ¿Cómo se ve una imagen después de cada bloque? **Predice** el tamaño de los mapas después del
# bloque 1 y después del bloque 2 (sección 4.5).

# %%
maps = probes.feature_maps(best_cnn.ensure_model(), data.test_images[0], lab.runtime)
lab.show_figure(plots.feature_maps(data.test_images[0], maps), "feature_maps")

# %% [markdown]
# **Por qué.** Después del bloque 1 los mapas son de 14×14 y todavía se pueden comparar con el contorno de la
# prenda; después del bloque 2 son de 7×7, y cada valor resume una ventana de 16×16: indican aproximadamente
# *dónde* se encontró un patrón, y la cabeza densa lee esas posiciones. Cada capa de pooling cambia resolución por
# canales: deja una cuarta parte de las posiciones, mientras que el bloque siguiente duplica el número de mapas, así
# que la red conserva más tipos de patrón en posiciones más gruesas. La sección 7.4 pregunta a qué responden las
# unidades de cada bloque.
#
# **Un filtro en acción.** La primera convolución del bloque 2 lee los 32 mapas que produjo el bloque 1. Cada uno
# de sus 64 filtros contiene 32 kernels de 3×3, uno por mapa de entrada. La celda desarma el primer filtro: cada
# mapa del bloque 1 de la imagen de arriba, correlacionado con su propio kernel mediante `correlate2d` de la
# sección 4.1, y la suma de los 32 resultados. La comprobación verifica que esta suma es lo que calcula la
# convolución de PyTorch para ese filtro.

# %%
trained = copy.deepcopy(best_cnn.ensure_model()).cpu().float().eval()  # una copia en CPU; el original se queda en su dispositivo
block1, block2_conv = trained.features[:8], trained.features[8]  # Normalize + las 7 capas del bloque 1; luego la conv del bloque 2
with torch.no_grad():
    block1_maps = block1(to_float_pixels(data.test_images[:1]))[0]  # 32×14×14
    one_filter = block2_conv.weight[:1]  # filtro 0 de la primera convolución del bloque 2: 1×32×3×3
per_channel = torch.stack([correlate2d(block1_maps[c:c + 1], one_filter[:, c:c + 1], padding=1)[0] for c in range(32)])
torch.testing.assert_close(per_channel.sum(0), F.conv2d(block1_maps[None], one_filter, padding=1)[0, 0])

# %%
lab.show_figure(plots.multichannel_filter(block1_maps, one_filter[0], per_channel, per_channel.sum(0)),
                "multichannel_filter")

# %% [markdown]
# **Por qué.** Un filtro no mira un mapa a la vez: su salida en una posición es la suma de 32 pequeñas
# correlaciones cruzadas, así que responde donde aparece una *combinación* de patrones del bloque 1 (por ejemplo,
# un borde en un mapa junto a una mancha en otro). Así es como una segunda capa puede construir patrones más grandes a
# partir de combinaciones de los de la primera, y por eso sus pesos crecen con C_in × C_out (sección 4.6).

# %% [markdown]
# ## 6. Experimentos controlados
#
# Cada experimento cambia **un** factor de la CNN por defecto y mantiene todo lo demás fijo: datos, receta, épocas,
# semillas. Para que el perfil full siga siendo asequible en la CPU de una laptop, cada experimento controlado
# entrena con un subconjunto del conjunto de entrenamiento balanceado por clase (10,000 imágenes, 5 épocas en el
# perfil full), con su propia CNN de referencia entrenada en el mismo subconjunto; los modelos principales de las
# secciones 3 y 5 usan el conjunto completo. Así que estas son respuestas *para ese presupuesto de datos*.
#
# Las variantes, cada una un `ConvConfig` que difiere del `ConvConfig()` por defecto (la `CNN` de la sección 5.1)
# en un solo ajuste:

# %%
pd.DataFrame([{"experiment": experiment, "variant": variant, "configuration": config.label()}
              for experiment, variants in catalogue.controlled_experiments().items()
              for variant, config in variants.items()])

# %% [markdown]
# **Cómo se llega a un veredicto.** Para cada variante calculamos la diferencia de precisión media de prueba
# respecto de la CNN de referencia, con un intervalo del 95 % que cuenta dos fuentes de ruido, cada una una sola vez:
#
# - **de semilla a semilla**: cuánto varía entre semillas la precisión de prueba de una ejecución. Todos los brazos
#   de esta sección entrenan con las mismas imágenes y la misma receta, así que sus varianzas entre semillas se
#   *combinan* (promedian) en una sola estimación con los grados de libertad de todos ellos: más semillas de
#   evidencia de las que tiene cualquier brazo por sí solo;
# - **el conjunto de prueba**: qué 10,000 imágenes le tocan al conjunto de prueba. Ambos modelos se evalúan con las
#   mismas imágenes, así que esta parte se mide imagen por imagen, sobre la diferencia. Que una imagen se acierte o
#   no también cambia entre semillas; ese cambio ya está en la parte de las semillas, así que aquí se estima y se
#   resta en lugar de contarse dos veces.
#
# Los veredictos se corrigen dentro de *familias* declaradas: la corrección de Holm mantiene la probabilidad de
# *cualquier* "mejor" o "peor" falso dentro de una familia en 5 % como máximo (no dice nada entre familias). La
# familia **primaria** son las afirmaciones del taller original: la CNN frente al modelo denso (5.2), y los kernels
# de 5×5 y 7×7 frente a los de 3×3 (6.1), 3 pruebas. La familia **secundaria** es cada uno de los demás factores de
# 6.2–6.8 frente a la CNN de referencia. Cada una de las demás tablas (la comprobación de la receta de 3.4, la red
# pequeña de 6.8, el aumento de datos en 6.9, las pruebas de sesgo de la sección 7) es su propia familia. Un "sin
# diferencia" necesita su propia prueba: la *prueba de equivalencia* (equivalence test; TOST, dos pruebas
# unilaterales) indica **equivalente dentro de ±0.5** solo cuando se demuestra que la diferencia está por encima
# de −0.5 *y* por debajo de +0.5 puntos. Las pruebas del módulo comprueban por simulación que estos intervalos del
# 95 % cubren el valor verdadero el 93–97 % de las veces y que un cero verdadero se declara diferencia como máximo
# el 5 % de las veces. En las figuras, los marcadores rellenos están resueltos y los huecos no.
#
# **Predice antes de ejecutar** (y anótalo): ¿cuáles de estos cambios ayudarán, cuáles perjudicarán y cuáles no
# importarán? Kernels de 3×3, 5×5 o 7×7; 1, 2 o 3 bloques; pooling vs convoluciones con paso; relleno same vs
# valid; max vs average pooling; una red más estrecha; sin normalización por lotes; una cabeza de global average
# pooling.
#
# La celda siguiente entrena cada variante con las semillas del perfil: es la más larga del notebook (se reutilizan
# las ejecuciones ya registradas por una ejecución interrumpida o anterior de esta celda).

# %%
controlled = {**lab.train_family("kernel size"), **lab.train_family("controlled")}  # {experimento: {variante: ejecuciones}}
primary = lab.effects({**headline_runs, "kernel size": controlled["kernel size"]}, "kernel size")  # 3 pruebas
others = {name: runs for name, runs in controlled.items() if name != "kernel size"}
secondary = lab.effects(others, "controlled")  # Holm sobre la familia secundaria
effects = pd.concat([primary[primary.experiment == "kernel size"], secondary], ignore_index=True)
full_run = lab.full_run_effects("kernel size", "controlled")
show_markdown(findings.describe_resolution(secondary))

# %% [markdown]
# **¿Cuántas semillas necesita una diferencia?** Cuanto más pequeña es una diferencia, más semillas hacen falta
# para distinguirla del ruido. La *potencia* (power) es la probabilidad de que la prueba detecte una diferencia
# verdadera de un tamaño dado. **Predice:** con el ruido recién medido, ¿cuántas semillas por brazo necesita una
# diferencia de 0.5 puntos para una potencia del 80 %?

# %%
noise = stats.family_noise(others, splits.test_labels, catalogue.family_size("controlled", lab.profile))
display(tables.power(noise.power_table()))
show_markdown(findings.describe_noise(noise, len(lab.profile.seeds)))

# %% [markdown]
# **Por qué.** Promediar n semillas reduce el ruido entre semillas de una media en un factor √n, pero la parte del
# conjunto de prueba queda igual sean cuales sean las semillas: un conjunto de prueba fijo de 10,000 imágenes limita
# qué tan pequeña puede ser una diferencia que cualquier número de semillas logre resolver. La corrección de Holm
# sube el listón de cada prueba en una familia más grande, así que una familia de muchas pruebas necesita más
# semillas por brazo.
#
# ### 6.1 Tamaño del kernel
#
# **Pregunta.** ¿Ayuda un kernel más grande en imágenes de 28×28? Solo cambia el tamaño del kernel de cada
# convolución, con relleno 'same' para que todas las variantes alimenten la misma cabeza.
#
# **Predice.** 3×3, 5×5 o 7×7: ¿cuál gana, y a qué costo?

# %%
lab.show_effects(effects, "kernel size", full_run)
show_markdown(findings.describe_effects(primary))  # la familia primaria: la prueba principal y ambas pruebas de kernel

# %% [markdown]
# **Por qué.** Los parámetros y las MACs de cada convolución crecen con k², pero un kernel más grande no ve nada
# que una pila no pueda ver: dos capas 3×3 apiladas ya cubren 5×5 y tres cubren 7×7, con menos pesos y más no
# linealidades entre ellas. En imágenes pequeñas, además, más ventanas de un kernel grande se solapan con el relleno
# de ceros del borde. Si la capacidad extra compensa su costo es lo que responde la tabla; las curvas de abajo
# muestran cómo evolucionó la precisión de validación para cada tamaño de kernel.

# %%
kernel_histories = {name: [o.fit.history for o in runs] for name, runs in controlled["kernel size"].items()}
title = translate("Validation accuracy (band: min–max over seeds)")
lab.show_figure(plots.validation_curves(kernel_histories, title), "kernel_size_curves")

# %% [markdown]
# ### 6.2 Profundidad
#
# **Pregunta.** ¿Un bloque (32 canales, mapas de 14×14 hacia la cabeza), dos (por defecto) o tres (32, 64, 128;
# mapas de 3×3)? ¿Y dos convoluciones por bloque, o una?
#
# **Predice.** ¿Ayuda el tercer bloque, y qué cuesta quitar la segunda convolución de cada bloque?

# %%
lab.show_effects(effects, "depth", full_run)
show_markdown(findings.describe_effects(effects, "depth"))

# %% [markdown]
# **Por qué.** La profundidad agranda el campo receptivo (sección 4.7) y el número de etapas no lineales entre los
# píxeles y las clases. También mueve parámetros: con un bloque la cabeza ve 32 × 14 × 14 entradas y es *más
# grande*; con tres ve 128 × 3 × 3 y es más pequeña. Así que "más profundo" aquí cambia tanto las características
# como la cabeza. Una convolución por bloque conserva los tamaños de los mapas y la cabeza, pero reduce a la mitad
# las etapas no lineales y encoge el campo receptivo (10 píxeles después del bloque 2 en lugar de 16).
#
# ### 6.3 Reducción de resolución: pooling o convolución con paso
#
# **Pregunta.** Cada bloque termina con un max pooling de 2×2. ¿Y si la última convolución del bloque usara paso 2?
#
# **Predice.** ¿Cuál es más barata, y cuál es más precisa?

# %%
lab.show_effects(effects, "downsampling", full_run)
show_markdown(findings.describe_effects(effects, "downsampling"))

# %% [markdown]
# **Por qué.** Una convolución con paso 2 calcula solo una cuarta parte de sus salidas, así que cuesta menos MACs,
# y aprende cómo reducir la resolución en lugar de tomar siempre el máximo. El max pooling conserva la respuesta
# más fuerte de cada ventana, lo que añade un poco de tolerancia a pequeños desplazamientos (la sección 7.1 lo
# mide).
#
# ### 6.4 Relleno: same o valid
#
# **Pregunta.** ¿Necesita la CNN su relleno? Sin él, cada convolución 3×3 pierde un borde de 1 píxel (28 → 26 →
# 24 → pool 12 → 10 → 8 → pool 4), así que la cabeza ve 64 × 4 × 4 entradas en lugar de 64 × 7 × 7.
#
# **Predice.** ¿Perjudica perder el borde, dado que en su mayor parte es fondo negro?

# %%
lab.show_effects(effects, "padding", full_run)
show_markdown(findings.describe_effects(effects, "padding"))

# %% [markdown]
# **Por qué.** El relleno valid encoge los mapas y con ellos la cabeza (menos parámetros y MACs), y los píxeles
# cercanos al borde los ven menos ventanas. En Fashion-MNIST el borde es sobre todo fondo, así que la pregunta es si
# la cabeza más pequeña y el borde perdido cuestan más de lo que ahorran: el veredicto de arriba dice si este
# presupuesto permite distinguirlo.
#
# ### 6.5 Pooling: max o average
#
# **Pregunta.** ¿Debe una capa de pooling conservar el valor más grande de cada ventana de 2×2, o su media?
#
# **Predice.** Mismos parámetros, mismo costo: ¿tomar el máximo le gana a tomar la media?

# %%
lab.show_effects(effects, "pooling", full_run)
show_markdown(findings.describe_effects(effects, "pooling"))

# %% [markdown]
# **Por qué.** El max pooling informa si un patrón apareció en algún lugar de la ventana; el average pooling,
# cuánto había de él, diluido por el resto de la ventana. Después de una ReLU, la respuesta más fuerte de un
# detector suele ser la señal, un argumento a favor del max pooling; pero promediar conserva más del mapa, un
# argumento a favor de la media. La diferencia medida, con su intervalo, dice si uno de los argumentos gana aquí,
# si este presupuesto puede resolverlo.
#
# ### 6.6 Anchura
#
# **Pregunta.** 32 → 64 canales es lo predeterminado. ¿Qué cuesta quedarse con 32 canales en el segundo bloque?
# (Una red más ancha, de 64 → 128, tardó 2.4 veces más en entrenar, más de lo que el presupuesto de tiempo del
# perfil full permitía para 7 semillas.)
#
# **Predice.** ¿Son los 32 canales extra del segundo bloque precisión barata, o ruido caro?

# %%
lab.show_effects(effects, "width", full_run)
show_markdown(findings.describe_effects(effects, "width"))

# %% [markdown]
# **Por qué.** El costo crece con el producto de los canales de entrada y de salida (sección 4.6), así que reducir
# a la mitad la anchura del segundo bloque reduce aproximadamente a la mitad las MACs de sus convoluciones y reduce
# a la mitad la cabeza. Las capas más anchas pueden representar más patrones; si un conjunto de entrenamiento fijo
# tiene suficientes ejemplos para aprovecharlos es lo que dicen la diferencia y su intervalo.
#
# ### 6.7 Normalización por lotes
#
# **Pregunta.** ¿Qué aporta la normalización por lotes? Se quitan todas las capas de normalización por lotes y se
# mantiene todo lo demás, incluida la tasa de aprendizaje (las convoluciones recuperan sus términos de sesgo:
# la sección 4.6 los omitió solo porque la normalización por lotes los cancela).
#
# **Predice.** ¿Una pérdida pequeña, una grande, o ninguna?

# %%
lab.show_effects(effects, "batch norm", full_run)
show_markdown(findings.describe_effects(effects, "batch norm"))

# %% [markdown]
# **Por qué.** La normalización por lotes estandariza las activaciones de cada canal durante el
# entrenamiento. Una explicación común de por qué ayuda es que así la escala de la señal varía menos de una capa a
# otra, de modo que una sola tasa de aprendizaje bastante alta puede servirle a todas las capas; la razón está en
# debate, y este experimento mide solo el resultado, no la razón. La receta de aquí se eligió para la red *con*
# normalización por lotes; sin ella, una tasa más baja o más épocas podrían dar mejores resultados, así que el
# veredicto de arriba vale "con la misma receta", no para cualquier receta.
#
# ### 6.8 La cabeza: aplanado + capa densa, o global average pooling
#
# **Pregunta.** El global average pooling (GAP) promedia cada mapa de características final en un solo número, así
# que la cabeza tiene solo canales × 10 pesos. ¿Necesita la red su cabeza densa, que concentra la mayoría de sus
# pesos (ejercicio 5.1)?
#
# **Predice.** ¿Qué le pasa a la precisión con GAP después de dos bloques? ¿Y después de tres? ¿Y con una red
# pequeña de tres bloques que tiene menos parámetros que el modelo denso de referencia?
#
# ✏️ **Ejercicio 6.1.** Antes de ejecutar la celda: con una cabeza GAP, ¿cuántos parámetros tiene la CNN por
# defecto? (La celda imprime lo que contienen sus convoluciones y sus capas de normalización por lotes; la cabeza GAP
# es una sola capa lineal de los 64 canales promediados a las 10 clases.)

# %%
feature_parameters = sum(p.numel() for p in ConvNet().features.parameters())
print(translate("convolutions and batch norms of ConvNet():"), f"{feature_parameters:,}")
my_gap_parameters = None  # reemplaza None por un número entero
print(exercises.check("GAP parameters", my_gap_parameters))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_gap_parameters = sum(p.numel() for p in ConvNet().features.parameters()) + (64 * 10 + 10)
# ```
# La cabeza se reduce de los cientos de miles de pesos del ejercicio 5.1 a 650. Compruébalo con
# `sum(p.numel() for p in ConvNet(ConvConfig(head="gap")).parameters())`.
# </details>

# %%
lab.show_effects(effects, "head", full_run)
show_markdown(findings.describe_effects(effects, "head"))

# %% [markdown]
# **Por qué.** Una cabeza GAP promedia y descarta *dónde* se encontró una característica, y conserva con qué
# intensidad se encontró en algún lugar (no del todo: el relleno con ceros hace que los mapas cerca del borde sean
# distintos, y las CNN pueden usar eso para codificar la posición absoluta, Islam et al., 2020). Una explicación, que
# aquí no se pone a prueba: después de dos bloques cada unidad ve como máximo una ventana de 16×16 de la prenda de
# 28×28, así que ninguna característica por sí sola describe la prenda completa, y promediar puede perder la
# disposición que una cabeza densa sí puede usar. Un tercer bloque (cuyo campo receptivo teórico, calculado como en la
# sección 4.7, es más ancho que la imagen de 28 píxeles) permite que cada característica cubra la prenda completa, lo
# que debería hacer que promediar pierda menos; pero esa variante también agrega profundidad y parámetros, así que no
# aísla el campo receptivo. Los veredictos de arriba dicen si GAP después de dos o de tres bloques difiere de la
# cabeza densa.
#
# La prueba justa de "mejor precisión con menos parámetros" compara la red GAP pequeña con el modelo denso de
# referencia *entrenado con las mismas imágenes* (las ejecuciones de la red GAP pequeña se reutilizan del experimento
# de la cabeza; el modelo denso se entrena aquí, a menos que esta ejecución ya lo haya registrado). El número de
# parámetros no es capacidad por imagen: la red GAP reutiliza los pesos de cada convolución en todas las posiciones,
# así que con pocos parámetros igual puede hacer muchos cálculos útiles.

# %%
small_gap_runs = lab.train_family("small GAP")  # {"small GAP vs dense": {variante: ejecuciones}}
small_gap = lab.effects(small_gap_runs, "small GAP")  # su propia familia, de una sola prueba
dense_10k = small_gap_runs["small GAP vs dense"]["dense baseline"]  # el modelo denso con las imágenes de los experimentos
display(tables.effects(small_gap, lab.full_run_effects("small GAP")))
show_markdown(findings.describe_effects(small_gap))

# %% [markdown]
# ### 6.9 Aumento de datos: ¿ninguno, volteos o desplazamientos?
#
# **Pregunta.** Las secciones 3.3 y 5.2 eligieron el aumento de datos de cada modelo con imágenes de validación.
# ¿Qué hacen los tres en el conjunto de *prueba*? Una camisa reflejada sigue siendo una camisa, pero todos los
# zapatos de Fashion-MNIST apuntan hacia el mismo lado, así que un zapato reflejado es una imagen que el conjunto de
# prueba nunca muestra; y sus prendas están centradas, así que una prenda desplazada también lo es. Cada modelo sin
# aumento de datos es la referencia, así que una diferencia positiva significa que el aumento de datos ayuda.
#
# **Predice.** ¿Qué aumento de datos ayuda al modelo denso y cuál a la CNN? (Cada modelo se compara consigo mismo;
# las diferencias entre los dos modelos no se ponen a prueba.)

# %%
augmentation = lab.train_family("augmentation")  # las ejecuciones de las secciones 3.3 y 5.2: no se entrena nada nuevo
augmented = lab.effects(augmentation, "augmentation")  # una familia: 2 aumentos de datos × 2 modelos
lab.show_effects(augmented, None, lab.full_run_effects("augmentation"), name="augmentation")
show_markdown(findings.describe_effects(augmented))

# %% [markdown]
# **Por qué.** Un aumento de datos agrega imágenes de entrenamiento que conservan sus etiquetas. Solo rinde
# cuando las imágenes de prueba varían de esa manera: le enseña al modelo a ignorar un cambio que va a encontrar. Las
# imágenes de prueba de Fashion-MNIST están centradas y nunca reflejadas, así que ambos aumentos de datos gastan
# sobre todo tiempo de entrenamiento en imágenes distintas de cualquier imagen de prueba, y pueden costar precisión
# dentro de un presupuesto fijo de épocas. Los desplazamientos son el cambio que una convolución ya tolera en parte
# (sección 4.8); el modelo denso tiene que aprender cada posición desplazada por separado, lo que le cuesta más. La
# sección 7.1 muestra la otra cara: con imágenes de prueba *desplazadas*, la precisión de los modelos cae, y un
# modelo entrenado con desplazamientos podría conservar más de ella,
# algo que este notebook no mide.
# Si a un modelo se le hubiera dado el aumento de datos de otro, una comparación le atribuiría a su arquitectura el
# mérito (o la culpa) de ese aumento: por eso cada modelo se entrena con el suyo, el mejor en validación.
#
# ### 6.10 Precisión frente a costo
#
# **Pregunta.** Entre todas las configuraciones anteriores, ¿cuáles dan más precisión para sus parámetros, o para
# su cómputo? Aquellas para las que ninguna otra configuración es al menos igual de precisa *y* a lo sumo igual de
# costosa (y estrictamente mejor en uno de los dos aspectos) forman el **frente de Pareto**. La figura numera cada
# configuración; la tabla las enumera todas con los mismos números e indica cuáles están en un frente.
#
# **Predice.** ¿La configuración más precisa será también la más barata? ¿Qué tipo de cambio consigue precisión al
# menor costo?

# %%
points = stats.distinct_configurations(effects)  # cada configuración una vez; la referencia es "default CNN"
lab.show_figure(plots.accuracy_versus_cost(points), "pareto")
tables.pareto(stats.pareto_table(points))

# %% [markdown]
# **Por qué.** Un cociente como "precisión por parámetro" premia al modelo más pequeño, por impreciso que sea;
# el frente muestra en cambio lo que aporta cada parámetro o MAC adicional. Los puntos cercanos en precisión a menudo
# están dentro del ruido (mira los veredictos de arriba), así que estas semillas no establecen el orden del frente
# entre vecinos.
#
# ✏️ **Ejercicio 6.2.** Tu propio experimento controlado. Elige un ajuste de la CNN, o un valor de uno, que la sección 6
# no probó (el dropout de la cabeza, el número de unidades ocultas de la cabeza, un kernel de 1×1…) y escríbelo como un
# `ConvConfig` que difiera de `ConvConfig()` solo en ese ajuste. La verificación se asegura de que cambie exactamente
# un factor, de que no sea una de las variantes de la sección 6 y de que construya un modelo capaz de aprender (10
# salidas, un gradiente que llegue a la primera capa); la celda siguiente lo entrena y lo compara con la CNN por defecto con los
# datos, las épocas y las semillas de este perfil (se reutilizan las ejecuciones de la CNN por defecto), y las mismas
# estadísticas dan el veredicto.

# %%
my_variant = None  # reemplaza None por, p. ej., ConvConfig(some_setting=some_value)
print(exercises.check("one factor", my_variant))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_variant = ConvConfig(dropout=0.5)  # un solo factor: dropout de la cabeza, 0.3 → 0.5; lo demás como la referencia
# ```
# Espera "sin resolver" con una semilla (el perfil `quick` fuera de sus preguntas principales): un veredicto
# necesita las semillas del perfil `full`.
# </details>

# %%
if exercises.check("one factor", my_variant).right:  # entrena solo cuando my_variant es un cambio de un solo factor
    my_runs = lab.train("my experiment", {"default CNN": ConvConfig(), "my variant": my_variant})
    my_effects = lab.effects({"my experiment": my_runs})  # una familia propia: una sola prueba
    display(tables.effects(my_effects))
    show_markdown(findings.describe_effects(my_effects))
else:
    print(translate("Set my_variant above to train your variant against the default CNN."))

# %% [markdown]
# ## 7. Evidencia del sesgo inductivo
#
# ### 7.1 Traslación: precisión con imágenes de prueba desplazadas
#
# **Pregunta.** Los modelos se entrenaron con prendas centradas. Desplaza las imágenes de prueba (las primeras 5,000
# en el perfil full) 0–6 píxeles hacia la derecha, hacia abajo, o hacia abajo y a la derecha (lo que queda libre se
# llena de negro; un desplazamiento diagonal de s mueve s píxeles en cada eje) y clasifícalas de nuevo, sin volver a
# entrenar. Cuatro modelos, cada uno entrenado con las imágenes de entrenamiento de los experimentos, con tres
# semillas cada uno: el modelo denso de referencia, la CNN por defecto (max pooling, cabeza densa), la CNN con
# convoluciones de paso 2 en lugar de pooling, y la CNN con cabeza GAP. La tabla da cada precisión como media
# [intervalo del 95 % entre semillas].
#
# **Predice.** ¿Qué modelo conserva su precisión con 2 píxeles? ¿Y con 4? ¿Importa la dirección?

# %%
shift_models = {"dense": dense_10k, "CNN (max pool)": controlled["downsampling"]["max pooling"],
                "CNN (stride-2 conv)": controlled["downsampling"]["stride-2 conv"],
                "CNN (GAP head)": controlled["head"]["global average pool"]}
curve = probes.translation_curve({name: [o.ensure_model() for o in runs[:3]] for name, runs in shift_models.items()},
                                 *lab.probe_images(), lab.runtime)
lab.write_table(curve, "translation.csv")
lab.show_figure(plots.translation(curve, lab.full_run_table("translation.csv")), "translation")
tables.translation(stats.shift_accuracy(curve), stats.shift_accuracy(lab.full_run_table("translation.csv")))

# %% [markdown]
# **Por qué.** La convolución es equivariante (sección 4.8): una prenda desplazada da mapas de características
# desplazados, exactamente antes del pooling y lejos del borde con relleno de ceros, y solo aproximadamente después de
# un pooling. Que la *predicción* sobreviva depende de lo que venga después. Una cabeza de aplanado + capa densa tiene
# un peso por posición, así que las características desplazadas caen sobre pesos distintos; los poolings de 2×2
# absorben algunos desplazamientos pequeños, y las características que responden sobre un área más amplia son más
# tolerantes; una cabeza GAP promedia sobre todas las posiciones, lo que elimina la mayor parte (no toda) de la
# posición. Así que la capa en sí es equivariante, no invariante: cuánto tolera los desplazamientos la predicción de
# una CNN depende de su pooling, sus características y su cabeza, que es lo que comparan las cuatro curvas. Las bandas
# son intervalos del 95 % entre semillas.
#
# **¿Y la dirección?** Compara los paneles horizontal y vertical de cada modelo, incluido el denso. Si la asimetría
# aparece en todos los modelos que dependen de la posición, su causa está en los datos o en la receta de
# entrenamiento (incluido su aumento de datos) y no en la convolución. La figura de abajo mide una causa candidata:
# qué tan parecida es una prenda a su propia copia desplazada en cada dirección (similitud coseno de los vectores de
# píxeles).

# %%
similarity = analysis.shift_similarity(lab.probe_images()[0])
lab.show_figure(plots.shift_similarity(similarity), "shift_similarity")
show_markdown(findings.describe_translation(curve, similarity))

# %% [markdown]
# **Por qué.** Un modelo atado a las posiciones reconoce una prenda desplazada solo en la medida en que la imagen
# desplazada todavía se parece a la original; cuanto más se parece una imagen a su copia desplazada, menos debería
# perder un modelo así. La similitud que se mide aquí es una explicación candidata de una asimetría direccional, no
# una demostración de ella.

# %% [markdown]
# ### 7.2 Estructura espacial: píxeles permutados
#
# **Pregunta.** ¿La ventaja de la CNN depende de que los píxeles vecinos sean vecinos? Reordena los 784 píxeles de
# cada imagen con una permutación aleatoria fija (la misma para entrenamiento y prueba). No se pierde información,
# pero los píxeles vecinos ya no son vecinos. La permutación está integrada en el modelo como su primera capa: el
# entrenamiento primero aplica el aumento de datos a la imagen real y luego el modelo la permuta, así que cada imagen
# que ve el cuerpo de la red, en entrenamiento y en prueba, es la misma permutación fija de una prenda real.
#
# **Predice.** ¿Qué modelo sufre, el denso o la CNN?

# %%
scrambling = lab.train_family("scrambling")  # {"scrambled, dense": …, "scrambled, CNN": …}
scrambled = lab.effects(scrambling, "scrambling")  # una familia: cada modelo contra su versión intacta
lab.show_effects(scrambled, None, lab.full_run_effects("scrambling"), name="permutation")
show_markdown(findings.describe_effects(scrambled))

# %% [markdown]
# **Por qué.** A una capa densa le es indiferente el orden de sus entradas. *Derivación:* una permutación de los
# píxeles es solo una permutación de las columnas de su primera matriz de pesos, y los pesos iniciales se sortean de
# forma independiente e idénticamente distribuida, así que entrenar con píxeles permutados es entrenar el mismo modelo
# desde un inicio igual de probable: los dos brazos difieren solo por el ruido entre semillas. La prueba de
# equivalencia lo comprueba en las ejecuciones medidas (su veredicto está arriba); la derivación es lo que hace que se
# cumpla para cualquier semilla. Una convolución supone que los píxeles de una ventana de 3×3 van juntos; después de
# permutarlos ya no, y su localidad y su compartición de pesos se vuelven supuestos equivocados. Arriba, cada modelo
# se compara consigo mismo; la diferencia entre las dos caídas no se pone a prueba en sí. Si la ventaja de la CNN
# viene de las vecindades, con los píxeles permutados debería caer aproximadamente a la precisión del modelo denso:
# compara las dos filas permutadas (esa comparación en sí no se pone a prueba). Aun así, eso no mostraría que una CNN
# rinde *peor* que una red densa con entradas así; con datos sin una estructura de vecindad espacial (o temporal), la
# convolución pierde su razón de ser.
#
# ✏️ **Ejercicio 7.1.** Permutar no pierde información. Escribe la permutación que lo *deshace*.

# %%
scramble = PixelPermutation(catalogue.SCRAMBLE_SEED).order  # el único orden fijo de los 784 píxeles que usa la sonda
my_inverse = None  # reemplaza None por un tensor de 784 índices tal que scrambled[:, my_inverse] restaure la imagen
print(exercises.check("unscramble", my_inverse, permutation=scramble))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_inverse = torch.argsort(scramble)
# ```
# Un ejemplo pequeño: con `scramble = [2, 0, 1]`, la imagen permutada es `[x2, x0, x1]`. `argsort([2, 0, 1])` es
# `[1, 2, 0]`, y leer la imagen permutada en esas posiciones devuelve `[x0, x1, x2]`.
# </details>

# %% [markdown]
# ### 7.3 Eficiencia de datos
#
# **Pregunta.** Con menos datos de entrenamiento, ¿la ventaja de la CNN crece o se reduce? Subconjuntos del conjunto
# de entrenamiento balanceados por clase. Los conjuntos pequeños reciben más épocas (la CNN hasta 100, el modelo
# denso el triple) para que un modelo vea un número mínimo de imágenes en el entrenamiento; por lo tanto, el
# presupuesto de entrenamiento también difiere entre tamaños, y la tabla indica cuántas épocas se entrenó con cada
# tamaño.
#
# **Predice.** Con el conjunto de entrenamiento más pequeño, ¿qué modelo va adelante, y por más o por menos que con
# todos los datos?

# %%
sizes = lab.train_family("data size")  # {"n=<size>": {variante: ejecuciones}}, cada tamaño con sus épocas (tabla de abajo)
efficiency = lab.effects(sizes, "data size")  # la ventaja en cada tamaño: una familia
full_run_sizes = lab.full_run_effects("data size")
lab.show_figure(plots.data_efficiency(stats.efficiency_points(efficiency), stats.efficiency_points(full_run_sizes),
                                      lead=efficiency), "data_efficiency")
display(tables.effects(efficiency, full_run_sizes, experiment=True, epochs=True))
show_markdown(findings.describe_data_size(efficiency))

# %% [markdown]
# **Predice.** ¿La ventaja con la menor cantidad de imágenes es mayor que la ventaja con todas? Dos intervalos
# separados no pueden responder esto (intervalos que se solapan aún pueden diferir); la prueba es sobre la
# *diferencia entre las dos ventajas*, la interacción entre modelo y tamaño de datos.

# %%
smallest, largest = list(sizes)[0], list(sizes)[-1]  # "n=<size>", en orden creciente
change = stats.lead_change(sizes, splits.test_labels, smallest, largest)  # (ventaja en el más pequeño) − (ventaja en el más grande)
show_markdown(findings.describe_lead_change(change))

# %% [markdown]
# **Por qué.** Un argumento dice que un supuesto correcto vale más cuando los datos escasean: la localidad y la
# compartición de pesos permiten que la CNN aprenda un detector de bordes una vez y lo use en todas partes, mientras
# que los pesos separados por posición del modelo denso no comparten lo que aprenden, y con más datos el modelo denso
# puede aprender más de eso por sí mismo.
# Otro dice que las ventajas de la CNN (compartición de pesos, pooling) se mantienen en cualquier tamaño. Las dos
# lecturas también difieren en la escala: una ventaja constante en puntos es una reducción *creciente* de la
# proporción de errores, porque ambos modelos cometen menos errores con más datos (las frases de arriba dan ambas).
# La prueba de interacción compara solo los dos extremos del rango, con las épocas de cada tamaño (que difieren), así
# que no pone a prueba una tendencia a lo largo de todos los tamaños.

# %% [markdown]
# ### 7.4 Jerarquía: a qué responden las unidades de cada profundidad
#
# **Pregunta.** ¿Las unidades del segundo bloque responden a patrones más específicos de cada clase que las del
# primero? Las unidades de cada bloque ven una ventana de la entrada (sección 4.7: 6×6 después del bloque 1, 16×16
# después del bloque 2). Abajo, para algunos canales de cada bloque, los parches bajo el campo receptivo en sus seis
# imágenes de prueba más fuertes, con la clase de cada imagen.
#
# **Predice.** Si las unidades más profundas son más específicas de cada clase, sus imágenes más fuertes deberían
# provenir de menos clases.

# %%
tops = probes.top_activating_patches(best_cnn.ensure_model(), splits.test_images, lab.runtime)
geometry = probes.block_geometry(best_cnn.ensure_model())
patches = {block: [probes.receptive_patch(splits.test_images[r.image], geometry[block], r.row, r.column)
                   for r in table.itertuples()] for block, table in tops.items()}
lab.show_figure(plots.top_patches(tops, patches, [CLASS_NAMES[c] for c in splits.test_labels]), "top_patches")

# %% [markdown]
# Seis imágenes por canal son anécdotas. La celda siguiente mide lo mismo para *todos* los canales de cada bloque
# sobre todo el conjunto de prueba: la entropía (entropy) de las clases entre las 100 imágenes más fuertes de un canal
# (0 bits = una sola clase, 3.3 bits = las diez por igual), frente a la misma medida con las etiquetas barajadas, que
# es lo que obtendría un canal ciego a la clase. Los valores p de la tabla ponen a prueba si los canales de un bloque
# obtienen puntuaciones por debajo de esa referencia barajada, y si los canales del bloque 2 obtienen puntuaciones
# distintas de las del bloque 1 (pruebas de rangos sobre los canales de este único modelo: Wilcoxon pareado con la
# puntuación barajada de cada canal, y un Mann–Whitney bilateral entre bloques).

# %%
selectivity = probes.class_selectivity(best_cnn.ensure_model(), splits.test_images, splits.test_labels, lab.runtime)
lab.write_table(selectivity, "selectivity.csv")
full_run_selectivity = lab.full_run_table("selectivity.csv")
lab.show_figure(plots.selectivity(selectivity, full_run_selectivity), "selectivity")
display(tables.selectivity(stats.selectivity_tests(selectivity), stats.selectivity_tests(full_run_selectivity)))
show_markdown(findings.describe_hierarchy(selectivity))

# %% [markdown]
# **Por qué.** Una unidad del bloque 1 ve un parche de 6×6: un borde o una esquina, algo que comparten muchas prendas.
# Una unidad del bloque 2 ve 16×16, suficiente para un cuello, un tacón o una correa, patrones que pertenecen a menos
# clases; por eso se espera menor entropía a mayor profundidad en la red. Las pruebas toman los canales de este único
# modelo como la muestra: no dicen nada sobre otras semillas, y un canal también puede ser "selectivo" para algo
# correlacionado con la clase, como la cantidad de tinta, en lugar de para una parte de una prenda.

# %% [markdown]
# ## 8. Interpretación
#
# ### 8.1 En qué se fija la CNN
#
# **Pregunta.** Para una predicción dada, ¿qué píxeles aportaron la evidencia? Dos métodos: **Grad-CAM** (Selvaraju et
# al., 2017) toma los mapas de características de la última ReLU del bloque 2 (antes de su pooling), pondera cada mapa
# por el gradiente de la puntuación de la clase (el logit de la clase predicha) promediado sobre sus posiciones, los
# suma y conserva la parte positiva; la **oclusión** (occlusion) oculta un parche a la vez y registra cuánto baja esa
# puntuación (valor negativo donde ocultar un parche *aumenta* la puntuación).
#
# **Predice.** En una camisa confundida con una camiseta/top, ¿dónde estará la evidencia?
#
# Grad-CAM necesita los mapas de una capa interna y el gradiente de la puntuación con respecto a ellos. Un *forward
# hook* (una función que PyTorch llama cada vez que se ejecuta un módulo) guarda los mapas; `torch.autograd.grad` da
# su gradiente:

# %%
def grad_cam_by_hand(model, images, targets):  # imágenes uint8 N×28×28, una clase por imagen → mapas N×28×28
    layer, kept = attribution.last_block_layer(model), {}
    handle = layer.register_forward_hook(lambda module, inputs, output: kept.update(maps=output))  # guarda los mapas
    scores = model(to_float_pixels(images)).gather(1, targets[:, None]).sum()  # logit de cada imagen para su clase
    handle.remove()
    gradients, = torch.autograd.grad(scores, kept["maps"])  # ∂ puntuación / ∂ cada unidad de cada mapa
    cam = (gradients.mean(dim=(2, 3), keepdim=True) * kept["maps"]).sum(1, keepdim=True).relu()  # suma ponderada
    return F.interpolate(cam, size=images.shape[-2:], mode="bilinear")[:, 0].detach()  # 14×14 → 28×28


# %% [markdown]
# Los ejemplos provienen del conjunto de prueba: camisas y camisetas/tops, clasificadas correctamente y (cuando la CNN
# comete ese error) confundidas entre sí, más otras dos clases. La celda verifica el Grad-CAM escrito a mano
# comparándolo con `LayerGradCam` de Captum (la biblioteca de atribución de PyTorch) y calcula la oclusión con Captum:
# parches de 6×6 desplazados de 2 en 2 píxeles, donde cada píxel muestra la caída media de los parches que lo cubren
# (los cuadrados contiguos del ejercicio 8.2 dan un mapa más tosco, en bloques, de la misma idea).

# %%
chosen = attribution.choose_examples(splits.test_labels, cnn_logits.argmax(1), CLASS_NAMES)
explained_images, predicted = splits.test_images[chosen], cnn_logits.argmax(1)[chosen]
true_classes = splits.test_labels[chosen]
cam = attribution.grad_cam(best_cnn.ensure_model(), explained_images, predicted)  # Captum; el modelo ya está en la CPU
torch.testing.assert_close(grad_cam_by_hand(best_cnn.ensure_model(), explained_images, predicted), cam)
occluded = attribution.occlusion(best_cnn.ensure_model(), explained_images, predicted)

# %% [markdown]
# **Una comprobación de cordura** (Adebayo et al., 2018): un mapa que explica el modelo *entrenado* debe cambiar
# cuando los pesos entrenados se reemplazan por pesos aleatorios. La celda vuelve a sortear todos los pesos de una
# copia como en la inicialización, calcula Grad-CAM de nuevo y mide cuánto se parecen los dos mapas de cada imagen (la
# correlación de rangos de Spearman de sus píxeles: 1 = el mismo orden, 0 = sin relación).

# %%
random_model = copy.deepcopy(best_cnn.ensure_model())
for module in random_model.modules():
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()  # un sorteo aleatorio nuevo, como antes de entrenar
random_cam = grad_cam_by_hand(random_model.eval(), explained_images, predicted)
titles = [f"{label(CLASS_NAMES[t])}\n→ {label(CLASS_NAMES[p])}" for t, p in zip(true_classes, predicted)]
lab.show_figure(plots.attribution(explained_images, titles, cam, occluded, random_cam=random_cam), "attribution")
show_markdown(findings.describe_cam_sanity(attribution.rank_similarity(cam, random_cam)))

# %% [markdown]
# **Por qué, y qué no pueden mostrar estos mapas.** La fila de pesos aleatorios es la comprobación de que el mapa
# depende de lo que aprendió el modelo; un mapa que apenas cambiara estaría mostrando el contorno de la imagen, no la
# evidencia del modelo. Ambos mapas explican la clase *predicha* para una imagen. Grad-CAM tiene la resolución de los
# mapas del último bloque, ampliada, así que indica a qué región se atribuye la puntuación, no a qué píxeles; la
# oclusión indica qué baja la puntuación al ocultarlo, lo cual puede diferir de lo que ayudó (un cuadrado negro dentro
# de una prenda no se parece a ninguna imagen de entrenamiento). La evidencia también puede estar en el fondo: dónde
# *no* está la prenda también es información. Ninguno de los dos mapas muestra *por qué* importa una región, ni qué
# hace el modelo con otras imágenes; son hipótesis por poner a prueba, no demostraciones. Para camisas frente a
# camisetas/tops, fíjate si la evidencia está en el cuello y en los extremos de las mangas, donde las dos clases
# difieren.
#
# ✏️ **Ejercicio 8.1.** Aquí Grad-CAM usa la última ReLU del último bloque. ¿Qué resolución (longitud del lado, en
# unidades) tiene el mapa antes de ampliarlo a 28×28?

# %%
my_cam_side = None  # reemplaza None por un número entero
print(exercises.check("Grad-CAM resolution", my_cam_side))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# my_cam_side = 14  # las convoluciones del bloque 2 operan en mapas de 14×14; su pooling va tras la última ReLU
# ```
# </details>
#
# ✏️ **Ejercicio 8.2.** Escribe tu propia versión de la oclusión: `my_occlusion(model, image, target, patch)` pone en
# negro (0) un cuadrado de patch×patch de una imagen uint8 de 28×28 a la vez, con los cuadrados uno junto a otro
# (paso = patch), y devuelve el mapa de cuánto baja el logit de la clase objetivo, un valor por cuadrado (7×7 para
# patch = 4). La verificación la compara con `Occlusion` de Captum sobre un modelo propio, entregado en modo de
# entrenamiento, para varios tamaños de parche.

# %%
def my_occlusion(model, image, target, patch):
    # caída del logit objetivo al poner en negro cada cuadrado de patch×patch: un mapa de (28 // patch)²
    raise NotImplementedError(translate("exercise 8.2: replace this line (model(to_float_pixels(batch)) gives logits)"))


print(exercises.check("occlusion", my_occlusion))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# def my_occlusion(model, image, target, patch):
#     side = image.shape[-1] // patch
#     hidden = image.repeat(side * side, 1, 1)  # una copia por cuadrado
#     for n, (i, j) in enumerate(itertools.product(range(side), range(side))):
#         hidden[n, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch] = 0  # pon en negro el cuadrado (i, j)
#     with torch.no_grad():
#         scores = model.eval()(to_float_pixels(torch.cat([image[None], hidden])))[:, target]
#     return (scores[0] - scores[1:]).reshape(side, side)  # la caída: puntuación completa − puntuación con un hueco
# ```
# </details>

# %% [markdown]
# ### 8.2 Lo que dice la evidencia
#
# **Pregunta.** Este notebook surgió de un taller más breve cuyo README afirmaba resultados sin experimentos (por
# ejemplo, "la CNN tiene unos 94,000 parámetros, menos que el modelo denso de referencia", "los kernels de 7×7 son
# demasiado agresivos"). ¿Cuáles de sus afirmaciones se sostienen?
#
# **Predice.** Vuelve a tus predicciones de la sección 6: ¿qué afirmaciones esperas que sobrevivan?
#
# Cada afirmación se muestra junto a lo que midió esta ejecución, el punto de comparación con el que se midió y el
# veredicto; las filas medidas en el subconjunto de los experimentos llevan la etiqueta de su tamaño.

# %%
tables.claims(primary, effects, small_gap, stats.shift_cost(curve, "CNN (max pool)"))

# %% [markdown]
# **Por qué.** Un número sin su punto de comparación dice poco: "88 % con menos parámetros" significa algo solo junto
# al modelo denso entrenado con las mismas imágenes, y "7×7 es peor" solo con un valor p ajustado por Holm menor que
# 0.05 (su intervalo entonces excluye el cero, pero no todo intervalo que excluye el cero recibe un veredicto). Cada
# veredicto de arriba sale de la misma estadística que la sección 6, así que una afirmación aparece como *sin
# resolver* cuando las semillas de esta ejecución no alcanzan para zanjarla.
#
# **¿Cuándo es la convolución la herramienta equivocada?** Cuando las entradas no tienen estructura de vecindad (la
# sección 7.2 mide qué le hace a cada modelo permutar los píxeles); y cuando lo decisivo es la relación entre partes
# alejadas, que una CNN solo ve después de suficientes capas como para que un campo receptivo cubra ambas. Donde la
# posición absoluta es la señal, una cabeza GAP es la elección equivocada (al promediar elimina la mayor parte de la
# posición), mientras que una cabeza densa la conserva.

# %% [markdown]
# ## 9. Guardar los pesos
#
# **Pregunta.** ¿Qué hay que guardar para que otra persona pueda reutilizar el modelo, y es posible cargarlo sin
# ejecutar ningún código del archivo? **Predice.** ¿Los archivos recargados reproducirán exactamente la precisión
# medida durante el entrenamiento?
#
# La mejor CNN (elegida por su precisión de validación entre las semillas de la comparación principal) se guarda de
# dos formas en `fashion_mnist_cnn_model_pytorch/`:
#
# - `best_model.pth`: un diccionario de datos simples (state dict, configuración, nombres de clases, normalización,
#   métricas, versiones) que se carga con `torch.load(path, weights_only=True)`, así que cargarlo no ejecuta ningún
#   código del archivo;
# - `complete_model.pth`: un programa de `torch.export`, el modelo completo, que se puede cargar sin las clases de
#   este paquete.
#
# Ambos se vuelven a evaluar después de guardarlos: la precisión indicada es la de los archivos.

# %%
from conv_workshop.deployment.artifacts import save_and_verify, write_model_card

saved = save_and_verify(best_cnn, lab.artifacts, splits.test_images, splits.test_labels, lab.profile.name)
show_markdown(findings.describe_saved_model(saved, best_cnn.record["test_accuracy"]))

# %% [markdown]
# **Por qué.** Un state dict contiene solo tensores: la arquitectura es código, así que el checkpoint también guarda
# la configuración que la reconstruye y la normalización que esperan los pesos. Los datos simples se cargan con
# `weights_only=True`, que rechaza todo lo que requeriría código para deserializarse (unpickling); un objeto de modelo
# serializado con pickle ejecutaría lo que sea que diga el archivo. Los archivos se evalúan con floats de 32 bits
# en la CPU, mientras que los experimentos evaluaron con la aritmética más rápida del entorno de ejecución (16 bits en
# una CPU que la admita), así que las dos precisiones del mismo modelo pueden diferir en unas pocas imágenes de
# prueba. `complete_model.pth` es un programa de `torch.export`: cárgalo con `torch.export.load(path).module()`, no
# con `torch.load`.
#
# ✏️ **Ejercicio 9.1.** Escribe `my_load_checkpoint(path)`: carga un checkpoint de forma segura (sin deserializar
# código con pickle) y devuelve su diccionario. La verificación carga con ella dos checkpoints reales y después un
# archivo que contiene código: tu función puede rechazar ese archivo, pero no debe ejecutarlo.

# %%
def my_load_checkpoint(path):
    # el diccionario del checkpoint (state dict, configuración, métricas...), cargado sin ejecutar código del archivo
    raise NotImplementedError(translate("exercise 9.1: replace this line"))


print(exercises.check("safe loading", my_load_checkpoint, path=lab.artifacts / "best_model.pth"))

# %% [markdown]
# <details><summary>Solución</summary>
#
# ```python
# def my_load_checkpoint(path):
#     return torch.load(path, weights_only=True)  # solo tensores y datos simples: se rechaza un archivo que necesite código
# ```
# Luego `my_load_checkpoint(lab.artifacts / "best_model.pth")["metrics"]["test_accuracy"]` es la precisión que registra.
# </details>

# %% [markdown]
# ## 10. Exportación a ONNX
#
# **Pregunta.** ¿Da el modelo las mismas respuestas fuera de PyTorch? ONNX describe la red como un grafo de operadores
# estándar que ejecutan otros entornos de ejecución (runtimes). **Predice.** ¿Qué tan grande será la mayor diferencia
# entre los logits de los dos entornos, y cambiará alguna predicción?
#
# El modelo se exporta con una dimensión de lote dinámica, se verifica con `onnx.checker` y se compara con ONNX
# Runtime en todo el conjunto de prueba. Su entrada son píxeles float32 N×1×28×28 en [0, 1]: la normalización está
# dentro del grafo. La ficha del modelo (model card) que acompaña a los pesos registra la arquitectura, la receta, las
# métricas y las confusiones conocidas.

# %%
from conv_workshop.deployment.export import export_onnx, onnx_parity

onnx_path = export_onnx(lab.artifacts / "fashion_mnist_cnn.onnx", saved.model)
parity = onnx_parity(onnx_path, saved.model, splits.test_images, splits.test_labels)
assert parity["max_abs_logit_diff"] <= 1e-4 and parity["prediction_agreement"] >= 0.999
write_model_card(lab.artifacts / "model_card.json", best_cnn, saved, parity, splits.test_images, splits.test_labels,
                 len(splits.val_labels), lab.run_date)
tables.parity(parity)

# %% [markdown]
# **Por qué.** El grafo exportado calcula las mismas sumas que PyTorch, pero sus kernels de cómputo pueden sumar los
# términos en otro orden; el redondeo de float32 difiere entonces en los últimos dígitos (la tabla muestra cuánto),
# muy por debajo de la distancia entre los dos logits más altos de casi todas las imágenes, así que las predicciones
# coinciden. La comprobación muestra que el grafo ONNX reproduce las predicciones de PyTorch en estas imágenes: una
# condición previa para ponerlo en producción, no una garantía.
#
# ## 11. Despliegue
#
# **Pregunta.** ¿Qué necesita un servicio que el notebook no necesitaba? **Predice.** ¿Qué debería pasar cuando
# alguien sube una foto de una prenda oscura sobre fondo blanco, o un archivo que no es una imagen?
#
# `make serve` inicia un servicio FastAPI sobre el modelo ONNX con ONNX Runtime en `127.0.0.1:8000` (`GET /health`,
# `GET /classes`, `POST /predict` con una imagen subida o un arreglo JSON de 28×28; documentación en `/docs`). Aquí la
# misma aplicación responde dentro del proceso. Una imagen de prueba se convierte en una "foto de producto" de 200×200
# (una prenda oscura sobre fondo blanco), que el preprocesamiento del servicio invierte y reduce de nuevo a 28×28;
# luego, una solicitud que no es una imagen recibe un error claro.
# Las respuestas son el JSON de la API, en inglés en ambas ediciones (nombres de clase incluidos): son datos para
# programas, no texto del taller.

# %%
from conv_workshop.deployment.serve_demo import demo_requests, product_photo

print(translate("true class of the photo:"), label(CLASS_NAMES[int(data.test_labels[1])]))
for reply in demo_requests(onnx_path, product_photo(data.test_images[1])):
    print(reply["request"], "->", reply["status"], json.dumps(reply["response"], indent=1, ensure_ascii=False))

# %% [markdown]
# **Por qué.** Un modelo desplegado se encuentra con entradas que el notebook nunca vio. Todo lo que llegue debe
# llevarse a la distribución de entrenamiento (una prenda clara sobre fondo negro, 28×28, píxeles en [0, 1]) antes de
# que el modelo lo vea, y lo que no se pueda llevar debe recibir un error que diga qué enviar, con un costo acotado,
# nunca una caída: el servicio comprueba el formato y el tamaño de un archivo subido antes de decodificarlo.
#
# Otras formas de desplegar: TorchServe está en mantenimiento limitado, así que, para alojarlo por tu cuenta, prefiere
# este servicio con ONNX Runtime o NVIDIA Triton; las plataformas gestionadas (AWS SageMaker, Google Vertex AI, Azure
# ML) aceptan el mismo archivo ONNX o el programa `complete_model.pth`.

# %% [markdown]
# ## 12. Resumen y referencias
#
# La tabla enumera todas las ejecuciones de entrenamiento de este notebook, agrupadas por experimento y variante
# (todos los números están en `results/runs.csv`, una fila por ejecución con sus versiones y su dispositivo).

# %%
run = lab.record_run_facts()
tables.run_summary(lab.run_summary())

# %%
show_markdown(findings.describe_run(run, lab.recorder.runs_path))

# %% [markdown]
# **Qué llevarte**, un mecanismo por idea; compara cada una con las predicciones que anotaste:
#
# - Una convolución es un kernel pequeño que se desliza sobre la imagen (sección 4.1): los mismos pesos en cada
#   posición, así que sus parámetros no dependen del tamaño de la imagen, mientras que su cómputo crece con el área de
#   la salida (4.6).
# - El tamaño de salida es ⌊(n + 2p − k) / s⌋ + 1 (4.4); el relleno 'same' mantiene el tamaño con paso 1, y el pooling
#   lo reduce a la mitad.
# - Apilar kernels pequeños hace crecer el campo receptivo (4.7): dos capas de 3×3 ven 5×5; cada capa con paso 2
#   duplica el crecimiento de las capas que vienen después.
# - La convolución es equivariante a los desplazamientos; la invariancia, donde un modelo la tiene, proviene del
#   pooling y de la cabeza (4.8, 7.1).
# - Los kernels se aprenden, no se diseñan: el descenso de gradiente recupera un kernel conocido a partir de ejemplos
#   (4.9); la sección 5.5 pone a prueba si los filtros de la primera capa de la CNN se parecen más a bordes que unos
#   filtros aleatorios (lee su veredicto).
# - Una comparación es justa solo cuando los brazos difieren en un único factor y la receta no perjudica a ninguno
#   (3.3), y una diferencia es un hallazgo solo cuando la prueba la resuelve; *sin resolver con N semillas* significa
#   que el presupuesto no permite distinguir, y solo una prueba de equivalencia puede decir *equivalente*: no hay una
#   diferencia mayor que su margen (sección 6).
#
# **Referencias**
#
# - H. Xiao, K. Rasul, R. Vollgraf. *Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
#   Algorithms.* arXiv:1708.07747, 2017.
# - K. Simonyan, A. Zisserman. *Very Deep Convolutional Networks for Large-Scale Image Recognition.* ICLR 2015
#   (convoluciones de 3×3 apiladas).
# - S. Ioffe, C. Szegedy. *Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate
#   Shift.* ICML 2015.
# - M. Lin, Q. Chen, S. Yan. *Network In Network.* ICLR 2014 (global average pooling).
# - R. R. Selvaraju et al. *Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization.* ICCV
#   2017.
# - W. Luo, Y. Li, R. Urtasun, R. Zemel. *Understanding the Effective Receptive Field in Deep Convolutional Neural
#   Networks.* NeurIPS 2016.
# - S. Holm. *A Simple Sequentially Rejective Multiple Test Procedure.* Scandinavian Journal of Statistics, 1979.
# - A. Zhang, Z. C. Lipton, M. Li, A. J. Smola. *Dive into Deep Learning*, capítulo 7 (Convolutional Neural Networks).
#   https://d2l.ai
# - Stanford CS231n, *Convolutional Neural Networks for Visual Recognition*, apuntes del curso sobre redes
#   convolucionales. https://cs231n.github.io/convolutional-networks/
# - N. Kokhlikyan et al. *Captum: A unified and generic model interpretability library for PyTorch.* 2020.
# - J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim. *Sanity Checks for Saliency Maps.* NeurIPS
#   2018.
# - S. Santurkar, D. Tsipras, A. Ilyas, A. Madry. *How Does Batch Normalization Help Optimization?* NeurIPS 2018.
# - M. A. Islam, S. Jia, N. D. B. Bruce. *How Much Position Information Do Convolutional Neural Networks Encode?* ICLR
#   2020.
# - C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger. *On Calibration of Modern Neural Networks.* ICML 2017
#   (probabilidades softmax con exceso de confianza).
# - M. Lin, Q. Chen, S. Yan (arriba) también introdujeron la convolución de 1×1 como una capa densa por píxel
#   ("mlpconv").
